package resque

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// Items that are not jobs go to failed with a clear exception and their exact bytes, and
// the worker carries on.
func TestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	huge := `{"class":"Ok","args":[{"blob":"` + strings.Repeat("x", 10<<20) + `"}]}`
	deep := `{"class":"Ok","args":[` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `]}`
	items := []struct {
		raw, exception, message string
		base64                  bool
	}{
		{raw: `not json at all`, exception: ExceptionInvalidPayload, message: "invalid job payload: not JSON", base64: true},
		{raw: "{\"class\":\"Ok\",\"args\":[\"caf\xe9\"]}", exception: ExceptionInvalidPayload, message: "invalid job payload: not valid UTF-8", base64: true},
		{raw: `{"args":[{"n":1}]}`, exception: ExceptionInvalidPayload, message: `invalid job payload: no "class" field`},
		{raw: `{"class":"Ok","args":{"n":1}}`, exception: ExceptionInvalidPayload, message: `invalid job payload: "args" is not an array`},
		{raw: deep, exception: ExceptionInvalidPayload, message: "nested deeper than 511 levels", base64: true},
		{raw: ``, exception: ExceptionInvalidPayload, message: "invalid job payload: empty", base64: true},
		{raw: `[1,2,3]`, exception: ExceptionInvalidPayload, message: "not a JSON object"},
	}
	for _, it := range items {
		if _, err := b.conn.Do("RPUSH", b.keys.Queue("default"), it.raw); err != nil {
			t.Fatal(err)
		}
	}
	// Good jobs between and after the bad ones: a huge one and one with unknown fields.
	for _, raw := range []string{huge, `{"class":"Ok","args":[null],"id":"abc","future_field":{"x":[1,2]},"queue_time":1}`} {
		if _, err := b.conn.Do("RPUSH", b.keys.Queue("default"), raw); err != nil {
			t.Fatal(err)
		}
	}
	var sizes []int
	mux := NewMux()
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error {
		sizes = append(sizes, len(j.Payload()))
		return nil
	})
	_, stop := b.start(t, b.config(t, mux, "default"))
	b.waitFor(t, "all processed", func() bool { return b.processed(t) == len(items)+2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[0] != len(huge) {
		t.Errorf("good jobs performed: %v", sizes)
	}
	raws, _ := redis.ByteSlices(b.conn.Do("LRANGE", b.keys.Failed(), 0, -1))
	f := b.failedEntries(t)
	if len(f) != len(items) {
		t.Fatalf("%d failed entries, want %d", len(f), len(items))
	}
	for i, it := range items {
		if f[i]["exception"] != it.exception || !strings.Contains(f[i]["error"].(string), it.message) {
			t.Errorf("item %d: %v: %v", i, f[i]["exception"], f[i]["error"])
		}
		// The exact bytes are kept: embedded when they are JSON, else in payload_base64.
		if it.base64 {
			got, err := base64.StdEncoding.DecodeString(f[i]["payload_base64"].(string))
			if err != nil || string(got) != it.raw {
				t.Errorf("item %d: payload_base64 does not give back the bytes", i)
			}
		} else if !strings.Contains(string(raws[i]), `"payload":`+it.raw+`,"exception"`) {
			t.Errorf("item %d: payload not embedded unchanged: %s", i, raws[i])
		}
	}
}

// A worker on another host whose heartbeat is stale is pruned by any goresque worker, and
// its in-flight job recorded as a dirty exit (or requeued); a fresh one is left alone.
func TestPruneByHeartbeat(t *testing.T) {
	t.Parallel()
	for _, policy := range []DeadJobPolicy{FailDeadJobs, RequeueDeadJobs} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			old := time.Now().Add(-10 * time.Minute)
			dead, alive := "otherhost:4242:default", "thirdhost:77:default"
			payload := `{"class":"Ok","args":[{"n":1}],"id":"0123456789abcdef0123456789abcdef","queue_time":1795727497.5}`
			rec := `{"queue":"default","run_at":"` + phpjson.DateISO8601(old) + `","payload":` + payload + `}`
			for _, c := range [][]any{
				{"SADD", b.keys.Workers(), dead, alive},
				{"SET", b.keys.Worker(dead), rec},
				{"HSET", b.keys.InFlight(), dead, rec},
				{"SET", b.keys.WorkerStarted(dead), phpjson.DateISO8601(old)},
				{"HSET", b.keys.Heartbeats(), dead, phpjson.DateISO8601(old), alive, phpjson.DateISO8601(time.Now())},
			} {
				if _, err := b.conn.Do(c[0].(string), c[1:]...); err != nil {
					t.Fatal(err)
				}
			}
			ran := make(chan string, 4)
			mux := NewMux()
			mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { ran <- j.ID; return nil })
			cfg := b.config(t, mux, "other-queue")
			cfg.DeadJobs = policy
			_, stop := b.start(t, cfg)
			b.waitFor(t, "dead worker pruned", func() bool {
				n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), dead))
				return n == 0
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), alive)); n != 1 {
				t.Error("a worker with a fresh heartbeat was pruned")
			}
			for _, k := range []string{b.keys.Worker(dead), b.keys.WorkerStarted(dead)} {
				if n, _ := redis.Int(b.conn.Do("EXISTS", k)); n != 0 {
					t.Errorf("%s left behind", k)
				}
			}
			if n, _ := redis.Int(b.conn.Do("HEXISTS", b.keys.InFlight(), dead)); n != 0 {
				t.Error("in-flight record left behind")
			}
			f := b.failedEntries(t)
			queued, _ := redis.Strings(b.conn.Do("LRANGE", b.keys.Queue("default"), 0, -1))
			if policy == FailDeadJobs {
				if len(f) != 1 || f[0]["exception"] != ExceptionDirtyExit || f[0]["worker"] != dead ||
					!strings.Contains(f[0]["error"].(string), "heartbeat") {
					t.Errorf("failed = %v", f)
				}
				if len(queued) != 0 {
					t.Errorf("queued = %v", queued)
				}
			} else {
				if len(f) != 0 {
					t.Errorf("failed = %v", f)
				}
				if len(queued) != 1 || queued[0] != payload {
					t.Errorf("requeued = %v, want the exact payload", queued)
				}
			}
		})
	}
}

// Two pruners racing over one dead worker record its job once.
func TestPruneOnlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dead := "otherhost:4242:default"
	rec := `{"queue":"default","run_at":"x","payload":{"class":"Ok","args":[]}}`
	for _, c := range [][]any{
		{"SADD", b.keys.Workers(), dead},
		{"HSET", b.keys.InFlight(), dead, rec},
		{"HSET", b.keys.Heartbeats(), dead, "2020-01-01T00:00:00+00:00"},
	} {
		if _, err := b.conn.Do(c[0].(string), c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 2)
	for i := range 2 {
		cfg := b.config(t, NewMux(), "q")
		cfg.Hostname = "pruner" + itoa(i)
		w, err := NewWorker(b.pool, cfg)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c := b.pool.Get()
			defer c.Close()
			if err := loadScripts(c); err != nil {
				errs <- err
				return
			}
			_, err := w.pruneOne(c, dead, "test", false)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if f := b.failedEntries(t); len(f) != 1 {
		t.Errorf("%d failure records, want 1", len(f))
	}
}

// QUIT waits for the running job up to ShutdownTimeout, then acts like TERM.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := NewMux()
	mux.HandleFunc("Slow", func(ctx context.Context, j *Job) error {
		select {
		case <-time.After(time.Minute):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if _, err := b.client.Enqueue(context.Background(), "default", "Slow", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, mux, "default")
	cfg.ShutdownTimeout = 300 * time.Millisecond
	w, done := b.startBusy(t, cfg)
	start := time.Now()
	w.Shutdown()
	waitRun(t, done, 5*time.Second)
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("stopped after %v, want about 300ms", d)
	}
	f := b.failedEntries(t)
	if len(f) != 1 || f[0]["exception"] != ExceptionDirtyExit || !strings.Contains(f[0]["error"].(string), "graceful shutdown timed out") {
		t.Errorf("failed = %v", f)
	}
}
