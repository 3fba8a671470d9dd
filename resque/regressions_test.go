package resque

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

// lossyConn drops the reply of one claim: the first cycleScript round trip, once armed,
// whose reply says a job was claimed. The script ran in Redis; the worker never hears of
// it, as when the connection breaks between the command and its reply. Before returning
// the error it calls onLost.
type lossyConn struct {
	redis.Conn
	armed  *atomic.Bool
	onLost func()
	broken bool
}

var errLostReply = errors.New("test: connection lost before the reply")

func (c *lossyConn) Do(cmd string, args ...any) (any, error) {
	if c.broken {
		return nil, errLostReply
	}
	v, err := c.Conn.Do(cmd, args...)
	if cmd != "" || err != nil || !c.armed.Load() {
		return v, err
	}
	replies, _ := v.([]any)
	if len(replies) == 0 {
		return v, err
	}
	cycle, ok := replies[len(replies)-1].([]any)
	if !ok || len(cycle) != cycleReplyLen {
		return v, err
	}
	if code, _ := redis.Int(cycle[1], nil); code < 0 || !c.armed.CompareAndSwap(true, false) {
		return v, err
	}
	c.onLost()
	c.broken = true
	c.Conn.Close()
	return nil, errLostReply
}

func (c *lossyConn) Err() error {
	if c.broken {
		return errLostReply
	}
	return c.Conn.Err()
}

// TestClaimLostBeforeStopIsNotStranded (found by the chaos work): a slot whose claim reply is lost reconnects and
// adopts the job (cycle, code -2). But when a stop (SIGQUIT) comes before it could reconnect
// (Redis unreachable for a moment, every pooled connection broken by the same failure),
// connect gives up at once on the cancelled quit context, the slot ends without knowing of
// its job (inflight == nil, so settled), and Run unregisters it as clean: SREM workers,
// DEL worker:<id>, HDEL workers:heartbeat, and returns nil. The claimed job is left only in
// goresque:inflight, under a worker id that is registered nowhere and has no heartbeat.
// pruneDeadWorkers recovers it only from a worker started later on the same host name:
// on any other host it skips ids without a heartbeat, so with per-container host names the
// job is stranded forever: not queued, not failed, invisible to php-resque tools.
//
// Now the stopping worker finds the record under its own id and puts the job, which never
// ran, back at the head of its queue.
func TestClaimLostBeforeStopIsNotStranded(t *testing.T) {
	srv := server(t)
	ns := redistest.Namespace(t)
	keys := NewKeys(ns)
	check := srv.Pool()
	defer check.Close()
	client := NewClient(check, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136})

	var armed atomic.Bool
	var w *Worker
	var wmu sync.Mutex
	pool := &redis.Pool{
		MaxIdle: 0, // every Get dials: no healthy idle connection survives "the failure"
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, "unix", srv.Socket)
			if err != nil {
				return nil, err
			}
			return &lossyConn{Conn: c, armed: &armed, onLost: func() {
				wmu.Lock()
				defer wmu.Unlock()
				w.Shutdown() // SIGQUIT arrives while the connection is down
			}}, nil
		},
	}
	defer pool.Close()
	var ran atomic.Int32
	mux := NewMux()
	mux.HandleFunc("Stranded_Job", func(ctx context.Context, j *Job) error { ran.Add(1); return nil })
	cfg := Config{
		Namespace: ns, Queues: []string{"q"}, Interval: 20 * time.Millisecond, Handler: mux,
		Logger: zerolog.New(zerolog.NewTestWriter(t)), Hostname: "pod-a",
	}
	var err error
	wmu.Lock()
	w, err = NewWorker(pool, cfg)
	wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(context.Background()) }()
	c := check.Get()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := redis.Int(c.Do("SCARD", keys.Workers())); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker did not register")
		}
		time.Sleep(10 * time.Millisecond)
	}
	armed.Store(true)
	id, err := client.Enqueue(context.Background(), "q", "Stranded_Job", nil, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runErr:
		t.Logf("Run returned %v; the handler ran %d times", err, ran.Load())
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if armed.Load() {
		t.Fatal("the claim reply was never dropped: the reproduction did not happen")
	}

	rec, _ := redis.String(c.Do("HGET", keys.InFlight(), w.IDs()[0]))
	registered, _ := redis.Int(c.Do("SISMEMBER", keys.Workers(), w.IDs()[0]))
	beat, _ := redis.Int(c.Do("HEXISTS", keys.Heartbeats(), w.IDs()[0]))
	t.Logf("after Run: goresque:inflight[%s] = %q; registered %d; heartbeat %d", w.IDs()[0], rec, registered, beat)

	// A worker on another host, after the dead worker's heartbeat would be stale, must settle
	// the job (as failed: it was claimed and never performed).
	time.Sleep(200 * time.Millisecond)
	cfg2 := cfg
	cfg2.Hostname = "pod-b"
	cfg2.HeartbeatInterval = 50 * time.Millisecond
	cfg2.PruneAfter = 150 * time.Millisecond
	w2, err := NewWorker(check, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	run2 := make(chan error, 1)
	go func() { run2 <- w2.Run(context.Background()) }()
	time.Sleep(500 * time.Millisecond)
	w2.Shutdown()
	if err := <-run2; err != nil {
		t.Fatal(err)
	}
	st, _ := client.Status(context.Background(), id, "")
	queued, _ := redis.Int(c.Do("LLEN", keys.Queue("q")))
	failed, _ := redis.Int(c.Do("LLEN", keys.Failed()))
	left, _ := redis.Int(c.Do("HLEN", keys.InFlight()))
	if ran.Load() == 0 && queued == 0 && failed == 0 {
		t.Errorf("job %s stranded: never performed (status %v), not queued, not in failed; goresque:inflight holds %d records, for worker ids registered nowhere", id, st.Status, left)
	}
}

// TestPrunedJobStatusBecomesFailed (found by the chaos work): when a dead worker's in-flight job is recorded
// in `failed` (FailDeadJobs), pruneScript leaves the job's status packet as it was:
// "running" (status 2), which has no expiry. A PHP application polling
// Resque_Job_Status::get() for that job sees it running forever, although resque:failed
// says it failed; every job the chaos run records as a dirty exit ends this way. php-resque
// writes STATUS_FAILED (3, expiring after 24 h) for a job whose child died.
//
// Now the prune that records the job as failed also writes its status failed (with the
// EXPIRE 86400 of a finished status), as the worker's own dirty exit does.
func TestPrunedJobStatusBecomesFailed(t *testing.T) {
	b := setup(t)
	id := "0123456789abcdef0123456789abcdef"
	payload := `{"class":"Ok","args":[null],"id":"` + id + `","prefix":"","queue_time":1795727497.5}`
	// Same host, a pid that is no live process (above the kernel's pid_max).
	dead := "testhost:4194305:default"
	rec := `{"queue":"default","run_at":"2026-11-26T22:00:00+00:00","payload":` + payload + `}`
	for _, c := range [][]any{
		{"SADD", b.keys.Workers(), dead},
		{"SET", b.keys.Worker(dead), rec},
		{"HSET", b.keys.InFlight(), dead, rec},
		{"SET", b.keys.JobStatus(id, ""), `{"status":2,"updated":1795727498,"started":1795727497,"result":null}`},
	} {
		if _, err := b.conn.Do(c[0].(string), c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	_, stop := b.start(t, b.config(t, NewMux(), "other-queue"))
	b.waitFor(t, "dead worker pruned", func() bool {
		n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), dead))
		return n == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if f := b.failedEntries(t); len(f) != 1 || f[0]["exception"] != ExceptionDirtyExit {
		t.Fatalf("failed = %v, want the dirty exit", f)
	}
	st, err := b.client.Status(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	ttl, _ := redis.Int(b.conn.Do("TTL", b.keys.JobStatus(id, "")))
	if st.Status != StatusFailed || ttl <= 0 {
		t.Errorf("job recorded in failed as a dirty exit has status %v (TTL %d), want failed with an expiry", st.Status, ttl)
	}
}
