package resque

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// claimHookConn calls onClaim once, when a cycleScript reply says a job was claimed, before
// the worker sees the reply: the instant between the claim in Redis and the job's start.
type claimHookConn struct {
	redis.Conn
	fired   *atomic.Bool
	onClaim func()
}

func (c *claimHookConn) Do(cmd string, args ...any) (any, error) {
	v, err := c.Conn.Do(cmd, args...)
	if cmd != "" || err != nil {
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
	if code, _ := redis.Int(cycle[1], nil); code >= 0 && c.fired.CompareAndSwap(false, true) {
		c.onClaim()
	}
	return v, err
}

func claimHookPool(b *testBundle, onClaim func()) *redis.Pool {
	var fired atomic.Bool
	return &redis.Pool{
		MaxIdle: 4,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, "unix", b.srv.Socket)
			if err != nil {
				return nil, err
			}
			return &claimHookConn{Conn: c, fired: &fired, onClaim: onClaim}, nil
		},
	}
}

// Issue 7 item 4: SIGUSR1 arriving after the claim and before the handler started was
// lost (slot.kill did nothing without a running job): the job ran to its end.
func TestKillBetweenClaimAndStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var w *Worker
	ready := make(chan struct{})
	pool := claimHookPool(b, func() { <-ready; w.KillJob(errors.New("worker received SIGUSR1")) })
	defer pool.Close()
	mux := NewMux()
	mux.HandleFunc("Long", func(ctx context.Context, j *Job) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return nil
		}
	})
	if _, err := b.client.Enqueue(context.Background(), "default", "Long", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if w, err = NewWorker(pool, b.config(t, mux, "default")); err != nil {
		t.Fatal(err)
	}
	close(ready)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	b.waitFor(t, "job recorded", func() bool { return b.processed(t) == 1 })
	w.Shutdown()
	waitRun(t, done, 5*time.Second)
	f := b.failedEntries(t)
	if len(f) != 1 || f[0]["exception"] != ExceptionDirtyExit || !strings.Contains(f[0]["error"].(string), "SIGUSR1") {
		t.Fatalf("failed = %v, want the job killed by SIGUSR1", f)
	}
}

// Issue 7 item 4: SIGTERM in the same gap, with a handler that ignores its context: the
// watchdog was never armed, so Run waited for the handler forever.
func TestShutdownNowBetweenClaimAndStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var w *Worker
	ready := make(chan struct{})
	pool := claimHookPool(b, func() { <-ready; w.ShutdownNow(errors.New("worker received SIGTERM")) })
	defer pool.Close()
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("Stuck", func(ctx context.Context, j *Job) error { <-release; return nil })
	if _, err := b.client.Enqueue(context.Background(), "default", "Stuck", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, mux, "default")
	cfg.KillTimeout = 200 * time.Millisecond
	var err error
	if w, err = NewWorker(pool, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); w.slotsDone.Wait() })
	close(ready)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	waitRun(t, done, 5*time.Second)
	f := b.failedEntries(t)
	if len(f) != 1 || f[0]["exception"] != ExceptionDirtyExit || !strings.Contains(f[0]["error"].(string), "SIGTERM") {
		t.Fatalf("failed = %v", f)
	}
}
