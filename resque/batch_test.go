package resque

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

// Issue 12 item 3: each slot made its script calls on a connection of its own, so Redis
// paid a read and a write per job however many slots were ready at once. The slots of a
// Worker now share one connection for them (batcher): 8 slots all running a job hold far
// fewer than 8 connections.
func TestSlotsShareOneConnectionForTheirScripts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := b.srv.Pool()
	defer pool.Close()
	const slots = 8
	var running atomic.Int32
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("Wait", func(ctx context.Context, j *Job) error {
		running.Add(1)
		<-release
		return nil
	})
	for range slots {
		if _, err := b.client.Enqueue(context.Background(), "q", "Wait", nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := b.config(t, mux, "q")
	cfg.Concurrency = slots
	w, err := NewWorker(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	b.waitFor(t, "every slot running a job", func() bool { return running.Load() == slots })
	active := pool.Stats().ActiveCount
	close(release)
	b.waitFor(t, "every job", func() bool { return b.processed(t) == slots })
	w.Shutdown()
	waitRun(t, done, 10*time.Second)
	// The batcher's, the heartbeat's, the class statistics', one slot's for the routing
	// rules: the slots' own would be 8 more.
	if active > 4 {
		t.Fatalf("%d connections held by a worker of %d slots, want at most 4", active, slots)
	}
}

// The batched calls keep their guarantees when the shared connection breaks under them:
// every call of the batch fails and each slot replays its own (the claim is adopted, the
// finish guarded), so every job runs exactly once and is recorded once.
func TestBatchedCallsSurviveBrokenConnections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := fmt.Sprintf("batchkill%d", time.Now().UnixNano())
	pool := &redis.Pool{
		MaxIdle: 16,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, "unix", b.srv.Socket)
			if err != nil {
				return nil, err
			}
			if _, err := c.Do("CLIENT", "SETNAME", name); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	defer pool.Close()
	const n = 3000
	var mu sync.Mutex
	runs := map[string]int{}
	mux := NewMux()
	mux.HandleFunc("Count", func(ctx context.Context, j *Job) error {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		return nil
	})
	ids := make([]string, n)
	for i := range ids {
		id, err := b.client.Enqueue(context.Background(), "q", "Count", nil, EnqueueOptions{Track: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	cfg := b.config(t, mux, "q")
	cfg.Concurrency = 8
	cfg.Logger = zerolog.Nop()
	w, err := NewWorker(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	killer, err := b.srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close()
	stopKill := make(chan struct{})
	killed := make(chan int, 1)
	go func() {
		k := 0
		defer func() { killed <- k }()
		for {
			select {
			case <-stopKill:
				return
			case <-time.After(15 * time.Millisecond):
			}
			list, err := redis.String(killer.Do("CLIENT", "LIST"))
			if err != nil {
				return
			}
			for _, line := range strings.Split(list, "\n") {
				if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, "cmd=evalsha") {
					continue
				}
				id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
				if _, err := killer.Do("CLIENT", "KILL", "ID", id); err == nil {
					k++
				}
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	deadline := time.Now().Add(60 * time.Second)
	for b.processed(t) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stopKill)
	kills := <-killed
	w.Shutdown()
	waitRun(t, done, 10*time.Second)
	if kills == 0 {
		t.Fatal("no connection was killed: the test tested nothing")
	}
	if got := b.processed(t); got != n {
		t.Fatalf("stat:processed = %d, want %d (%d connections killed)", got, n, kills)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Fatalf("job %s ran %d times (%d connections killed)", id, runs[id], kills)
		}
	}
	if f := b.failedEntries(t); len(f) != 0 {
		t.Fatalf("%d failure records: %v", len(f), f[0])
	}
	if m, _ := redis.StringMap(b.conn.Do("HGETALL", b.keys.InFlight())); len(m) != 0 {
		t.Fatalf("in flight after the stop: %v", m)
	}
	if l, _ := redis.Int(b.conn.Do("LLEN", b.keys.Queue("q"))); l != 0 {
		t.Fatalf("%d jobs left in the queue", l)
	}
	t.Logf("%d jobs, %d connections killed", n, kills)
}

// A Redis that lost its scripts (restarted, SCRIPT FLUSH) answers NOSCRIPT to every call of
// a batch: the batcher loads them again before handing the replies back, and each slot
// replays its call, so the drain goes on with every job recorded once.
func TestBatchedCallsReloadFlushedScripts(t *testing.T) {
	t.Parallel()
	srv := redistest.StartTB(t, redistest.Options{})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	b := &testBundle{srv: srv, pool: pool, ns: "flush:", keys: NewKeys("flush:"), conn: conn,
		client: NewClient(pool, ClientConfig{Namespace: "flush:", Dialect: DialectPHPResque136})}
	const n = 2000
	b.enqueueN(t, "q", n)
	var ran atomic.Int32
	mux := NewMux()
	mux.HandleFunc("Rec", func(context.Context, *Job) error { ran.Add(1); return nil })
	cfg := b.config(t, mux, "q")
	cfg.Concurrency = 8
	cfg.Logger = zerolog.Nop()
	_, stop := b.start(t, cfg)
	flusher, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer flusher.Close()
	flushes := 0
	for b.processed(t) < n && flushes < 200 {
		if _, err := flusher.Do("SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
		flushes++
		time.Sleep(5 * time.Millisecond)
	}
	b.waitFor(t, "every job", func() bool { return b.processed(t) == n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := ran.Load(); got != n {
		t.Fatalf("%d jobs ran, want %d", got, n)
	}
	if f := b.failedEntries(t); len(f) != 0 {
		t.Fatalf("%d failure records: %v", len(f), f[0])
	}
	t.Logf("%d scripts flushes during the drain", flushes)
}
