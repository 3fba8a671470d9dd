package resque

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

type testBundle struct {
	srv    *redistest.Server
	pool   *redis.Pool
	ns     string
	keys   Keys
	client *Client
	conn   redis.Conn
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	srv := server(t)
	pool := srv.Pool()
	t.Cleanup(func() { pool.Close() })
	conn := pool.Get()
	t.Cleanup(func() { conn.Close() })
	ns := redistest.Namespace(t)
	return &testBundle{srv: srv, pool: pool, ns: ns, keys: NewKeys(ns), client: NewClient(pool, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136}), conn: conn}
}

func (b *testBundle) config(t *testing.T, h Handler, queues ...string) Config {
	return Config{
		Namespace: b.ns,
		Queues:    queues,
		Interval:  50 * time.Millisecond,
		Handler:   h,
		Logger:    zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel),
		Hostname:  "testhost",
	}
}

// start runs a worker in the background; the returned function shuts it down gracefully
// and returns Run's error.
func (b *testBundle) start(t *testing.T, cfg Config) (*Worker, func() error) {
	t.Helper()
	w, err := NewWorker(b.pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	var once atomic.Bool
	var res error
	stop := func() error {
		if once.CompareAndSwap(false, true) {
			w.Shutdown()
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("worker did not stop within 10s")
			}
		}
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return w, stop
}

// startBusy runs a worker and waits until slot 0 is working on a job; done delivers Run's
// result, for tests that stop the worker themselves.
func (b *testBundle) startBusy(t *testing.T, cfg Config) (w *Worker, done chan error) {
	t.Helper()
	w, err := NewWorker(b.pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	b.waitFor(t, "job running", func() bool {
		n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Worker(w.IDs()[0])))
		return n == 1
	})
	return w, done
}

// waitRun waits for Run's result and fails the test on an error or after limit.
func waitRun(t *testing.T, done chan error, limit time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(limit):
		t.Fatal("Run did not return")
	}
}

func (b *testBundle) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *testBundle) getInt(t *testing.T, key string) int {
	t.Helper()
	n, err := redis.Int(b.conn.Do("GET", key))
	if err != nil && !errors.Is(err, redis.ErrNil) {
		t.Fatal(err)
	}
	return n
}

func (b *testBundle) processed(t *testing.T) int { return b.getInt(t, b.keys.Stat("processed")) }

func (b *testBundle) failedEntries(t *testing.T) []map[string]any {
	t.Helper()
	vals, err := redis.ByteSlices(b.conn.Do("LRANGE", b.keys.Failed(), 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, v := range vals {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatalf("failed entry is not JSON: %v: %s", err, v)
		}
		out = append(out, m)
	}
	return out
}

func TestWorkerOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := NewMux()
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { j.SetResult("ok"); return nil })
	mux.HandleFunc("Fail", func(ctx context.Context, j *Job) error { return errors.New("boom") })
	mux.HandleFunc("Panic", func(ctx context.Context, j *Job) error { panic("kaboom") })
	mux.HandleFunc("Skip", func(ctx context.Context, j *Job) error { return ErrDontPerform })
	mux.HandleFunc(`App\Jobs\Typed`, func(ctx context.Context, j *Job) error {
		return &JobError{Exception: `App\Exceptions\PaymentFailed`, Message: "card declined", Backtrace: []string{"#0 {main}"}}
	})
	ctx := context.Background()
	ids := map[string]string{}
	for _, class := range []string{"Ok", "Fail", "Panic", "Skip", `\app\jobs\typed`, "Unknown"} {
		id, err := b.client.Enqueue(ctx, "default", class, map[string]any{"n": 1}, EnqueueOptions{Track: true})
		if err != nil {
			t.Fatal(err)
		}
		ids[class] = id
	}
	w, stop := b.start(t, b.config(t, mux, "default"))
	b.waitFor(t, "6 processed", func() bool { return b.processed(t) == 6 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := b.getInt(t, b.keys.Stat("failed")); got != 4 {
		t.Errorf("stat:failed = %d, want 4", got)
	}
	want := map[string]Status{"Ok": StatusComplete, "Fail": StatusFailed, "Panic": StatusFailed, "Skip": StatusComplete, `\app\jobs\typed`: StatusFailed, "Unknown": StatusFailed}
	for class, id := range ids {
		st, err := b.client.Status(ctx, id, "")
		if err != nil {
			t.Fatalf("%s: %v", class, err)
		}
		if st.Status != want[class] {
			t.Errorf("%s: status %v, want %v", class, st.Status, want[class])
		}
		ttl, _ := redis.Int(b.conn.Do("TTL", b.keys.JobStatus(id, "")))
		if ttl < 86000 {
			t.Errorf("%s: status TTL %d, want ~86400", class, ttl)
		}
	}
	if st, _ := b.client.Status(ctx, ids["Ok"], ""); string(st.Result) != `"ok"` {
		t.Errorf("Ok result = %s", st.Result)
	}
	if st, _ := b.client.Status(ctx, ids["Skip"], ""); string(st.Result) != `false` {
		t.Errorf("Skip result = %s, want false (golden 13)", st.Result)
	}
	got := map[string]string{}
	for _, f := range b.failedEntries(t) {
		p := f["payload"].(map[string]any)
		got[p["class"].(string)] = f["exception"].(string) + ": " + f["error"].(string)
		if f["worker"] != w.IDs()[0] {
			t.Errorf("worker field %v", f["worker"])
		}
	}
	wantFail := map[string]string{
		"Fail":            "Exception: boom",
		"Panic":           "Error: panic: kaboom",
		`\app\jobs\typed`: `App\Exceptions\PaymentFailed: card declined`,
		"Unknown":         "Resque_Exception: Could not find job class Unknown.",
	}
	for k, v := range wantFail {
		if got[k] != v {
			t.Errorf("failed[%s] = %q, want %q", k, got[k], v)
		}
	}
	// Nothing of the worker stays after it stopped.
	for _, k := range redistest.Keys(t, b.conn, b.ns) {
		if strings.Contains(k, "testhost") || strings.Contains(k, "inflight") || strings.Contains(k, "heartbeat") {
			t.Errorf("left behind: %s", k)
		}
	}
}

// A job that ignores its cancelled context is recorded as a dirty exit after KillTimeout,
// and ShutdownNow does not wait for it any longer (php-resque SIGKILLs such a child).
func TestShutdownNowAbandonsAStuckJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("Stuck", func(ctx context.Context, j *Job) error {
		<-release // ignores ctx
		return nil
	})
	id, err := b.client.Enqueue(context.Background(), "default", "Stuck", nil, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, mux, "default")
	cfg.KillTimeout = 200 * time.Millisecond
	w, done := b.startBusy(t, cfg)
	// The abandoned slot logs once its handler returns: let it, before the test ends.
	t.Cleanup(func() { close(release); w.slotsDone.Wait() })
	start := time.Now()
	w.ShutdownNow(errors.New("worker received SIGTERM"))
	waitRun(t, done, 5*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	f := b.failedEntries(t)
	if len(f) != 1 || f[0]["exception"] != ExceptionDirtyExit || !strings.Contains(f[0]["error"].(string), "SIGTERM") {
		t.Fatalf("failed = %v", f)
	}
	if st, _ := b.client.Status(context.Background(), id, ""); st.Status != StatusFailed {
		t.Errorf("status %v", st.Status)
	}
	if n, _ := redis.Int(b.conn.Do("SCARD", b.keys.Workers())); n != 0 {
		t.Errorf("worker still registered")
	}
}

// KillJob on a stuck job records it as a dirty exit; once the handler returns the worker
// goes on with the next job and does not record the first one twice.
func TestKillJobAbandonsThenContinues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("Stuck", func(ctx context.Context, j *Job) error {
		<-release
		return nil
	})
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { return nil })
	for _, c := range []string{"Stuck", "Ok"} {
		if _, err := b.client.Enqueue(context.Background(), "default", c, nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := b.config(t, mux, "default")
	cfg.KillTimeout = 100 * time.Millisecond
	w, stop := b.start(t, cfg)
	b.waitFor(t, "job running", func() bool {
		n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Worker(w.IDs()[0])))
		return n == 1
	})
	w.KillJob(errors.New("worker received SIGUSR1"))
	b.waitFor(t, "dirty exit recorded", func() bool { return len(b.failedEntries(t)) == 1 })
	close(release)
	b.waitFor(t, "next job done", func() bool { return b.processed(t) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if f := b.failedEntries(t); len(f) != 1 {
		t.Errorf("failed = %v", f)
	}
}

func TestPanicBacktraceShowsTheHandler(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := NewMux()
	mux.HandleFunc("Boom", func(ctx context.Context, j *Job) error { return explode() })
	if _, err := b.client.Enqueue(context.Background(), "default", "Boom", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	_, stop := b.start(t, b.config(t, mux, "default"))
	b.waitFor(t, "processed", func() bool { return b.processed(t) == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	f := b.failedEntries(t)
	bt, _ := json.Marshal(f[0]["backtrace"])
	if f[0]["exception"] != "Error" || f[0]["error"] != "panic: runtime error: index out of range [3] with length 0" ||
		!strings.Contains(string(bt), "resque.explode()") || !strings.HasPrefix(string(bt), `["#0 `) || !strings.HasSuffix(string(bt), `{main}"]`) ||
		strings.Contains(string(bt), "executor") || strings.Contains(string(bt), "runtime.gopanic") {
		t.Errorf("failure = %v %v, backtrace %s", f[0]["exception"], f[0]["error"], bt)
	}
}

func explode() error {
	var s []int
	i := 3
	return fmt.Errorf("%d", s[i])
}

// The job's logger (zerolog.Ctx of its context, handler.go) writes the worker, queue,
// class, job id and implementation on each line a handler logs.
func TestJobLoggerCarriesTheJobsFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var logs lockedBuffer
	mux := NewMux()
	mux.HandleFunc("App\\Jobs\\Hello", func(ctx context.Context, j *Job) error {
		zerolog.Ctx(ctx).Info().Int("n", 1).Msg("hello from the handler")
		return nil
	})
	id, err := b.client.Enqueue(bg, "q", "App\\Jobs\\Hello", nil, EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, mux, "q")
	cfg.Logger = zerolog.New(&logs)
	_, stop := b.start(t, cfg)
	b.waitFor(t, "job done", func() bool { return b.processed(t) == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "hello from the handler") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]any{"worker": "testhost:" + strconv.Itoa(os.Getpid()) + ":q", "queue": "q", "class": "App\\Jobs\\Hello",
		"job_id": id, "impl": "go", "n": float64(1), "level": "info"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}
