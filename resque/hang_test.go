package resque

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

// Issue 7 item 7: shutdown was not bounded when Redis hangs with its connections open (a
// stopped server, a black-holed network): every call waited for the connection's 30 s read
// timeout. QUIT mid-job with a 1 s shutdown timeout took 31 s; an idle worker 60 s.
//
// The test's own redis-server is stopped with SIGSTOP; the pool reads with a 30 s timeout,
// as the command's does. With a stop budget of budget, each stop must end within budget
// plus the shutdown timeout plus slack. (On the old code, with its fixed 10 s, the idle case
// took 60 s and the mid-job cases 31 s.)
func TestShutdownBoundedWhenRedisHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own redis-server per case")
	}
	t.Parallel()
	const budget = time.Second
	cases := []struct {
		name  string
		busy  bool
		slots int // 0: one; more share one connection for their scripts (batcher)
		stop  func(w *Worker)
		limit time.Duration
	}{
		{name: "idle-quit", stop: func(w *Worker) { w.Shutdown() }, limit: budget + 2*time.Second},
		{name: "idle-term", stop: func(w *Worker) { w.ShutdownNow(errors.New("SIGTERM")) }, limit: budget + 2*time.Second},
		{name: "busy-quit-timeout", busy: true, stop: func(w *Worker) { w.Shutdown() }, limit: 300*time.Millisecond + budget + 2*time.Second},
		{name: "busy-term", busy: true, stop: func(w *Worker) { w.ShutdownNow(errors.New("SIGTERM")) }, limit: budget + 2*time.Second},
		{name: "idle-quit-4-slots", slots: 4, stop: func(w *Worker) { w.Shutdown() }, limit: budget + 2*time.Second},
		{name: "busy-quit-timeout-4-slots", slots: 4, busy: true, stop: func(w *Worker) { w.Shutdown() }, limit: 300*time.Millisecond + budget + 2*time.Second},
		{name: "busy-term-4-slots", slots: 4, busy: true, stop: func(w *Worker) { w.ShutdownNow(errors.New("SIGTERM")) }, limit: budget + 2*time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := startOutageRedis(t)
			pool := &redis.Pool{
				MaxIdle: 8,
				DialContext: func(ctx context.Context) (redis.Conn, error) {
					return redis.DialContext(ctx, "unix", rs.sock, redis.DialReadTimeout(30*time.Second), redis.DialWriteTimeout(30*time.Second))
				},
			}
			defer pool.Close()
			c := pool.Get()
			client := NewClient(pool, ClientConfig{Namespace: "hang:", Dialect: DialectPHPResque136})
			if tc.busy {
				for range max(1, tc.slots) { // one for each slot: slot 0 is sure to get one
					if _, err := client.Enqueue(context.Background(), "q", "Slow", nil, EnqueueOptions{Track: true}); err != nil {
						t.Fatal(err)
					}
				}
			}
			mux := NewMux()
			mux.HandleFunc("Slow", func(ctx context.Context, j *Job) error {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Minute):
					return nil
				}
			})
			b := &testBundle{ns: "hang:"}
			cfg := b.config(t, mux, "q")
			cfg.ShutdownTimeout = 300 * time.Millisecond
			cfg.HeartbeatInterval = 20 * time.Millisecond
			cfg.Concurrency = tc.slots
			w, err := NewWorker(pool, cfg)
			if err != nil {
				t.Fatal(err)
			}
			w.life.budgetLen = budget
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				key := NewKeys("hang:").Workers()
				if tc.busy {
					key = NewKeys("hang:").Worker(w.IDs()[0])
				}
				if n, _ := redis.Int(c.Do("EXISTS", key)); n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("worker did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.Close()
			time.Sleep(100 * time.Millisecond) // the idle worker is in a claim or a heartbeat
			if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rs.cmd.Process.Signal(syscall.SIGCONT) }()
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			tc.stop(w)
			select {
			case err := <-done:
				took := time.Since(start)
				t.Logf("Run returned after %v: %v", took, err)
				if took > tc.limit {
					t.Errorf("stop took %v with Redis hung, want at most %v", took, tc.limit)
				}
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "redis") {
					t.Errorf("Run = %v, want an error saying what could not be written", err)
				}
			case <-time.After(40 * time.Second):
				t.Fatal("Run did not return within 40 s of the stop with Redis hung")
			}
		})
	}
}

// Issue 7 item 9: `CLIENT PAUSE 40000 WRITE` held every worker call without a log line.
// A reply awaited longer than slowAfter is logged once, and again when Redis answers.
// (The old code logged nothing.)
func TestClientPauseIsLogged(t *testing.T) {
	t.Parallel()
	srv := redistest.StartTB(t, redistest.Options{})
	pool := srv.Pool()
	defer pool.Close()
	mux := NewMux()
	mux.HandleFunc("Ok", func(context.Context, *Job) error { return nil })
	var logs lockedBuffer
	b := &testBundle{ns: "pause:"}
	cfg := b.config(t, mux, "q")
	cfg.Logger = zerolog.New(&logs)
	w, err := NewWorker(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.link.slowAfter = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	defer func() {
		w.Shutdown()
		waitRun(t, done, 10*time.Second)
	}()
	c := pool.Get()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "starting worker") {
		if time.Now().After(deadline) {
			t.Fatal("worker did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Do("CLIENT", "PAUSE", 1000, "WRITE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	out := logs.String()
	if !strings.Contains(out, "redis has not answered for 200ms") || !strings.Contains(out, "redis answers again") {
		t.Errorf("want the stalled reply logged and its end:\n%s", out)
	}
}
