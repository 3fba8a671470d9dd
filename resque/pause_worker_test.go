package resque

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

// Workers honour Ruby resque's pause-all-workers: while it says "true" no job is taken (in
// poll and in blocking mode), and after Resume the waiting jobs run.
func TestWorkersHonourPauseAllWorkers(t *testing.T) {
	for _, blocking := range []bool{false, true} {
		name := map[bool]string{false: "poll", true: "blocking"}[blocking]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			mux := NewMux()
			mux.HandleFunc("J", func(context.Context, *Job) error { return nil })
			cfg := b.config(t, mux, "q")
			cfg.Blocking = blocking
			if err := b.client.Pause(bg); err != nil {
				t.Fatal(err)
			}
			_, stop := b.start(t, cfg)
			for i := 0; i < 3; i++ {
				if _, err := b.client.Enqueue(bg, "q", "J", nil, EnqueueOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			mon, stopMon := b.srv.Monitor(t)
			time.Sleep(500 * time.Millisecond)
			stopMon()
			if n, _ := redis.Int(b.conn.Do("LLEN", b.keys.Queue("q"))); n != 3 || b.processed(t) != 0 {
				t.Fatalf("paused: %d jobs left of 3, %d processed", n, b.processed(t))
			}
			// Paused, the worker polls at its interval, not in a busy loop.
			polls := 0
			for _, l := range mon() {
				if strings.Contains(l, b.keys.PauseAllWorkers()) {
					polls++
				}
			}
			if polls > 20 {
				t.Errorf("%d reads of pause-all-workers in 500ms at a 50ms interval: busy loop", polls)
			}
			if err := b.client.Resume(bg); err != nil {
				t.Fatal(err)
			}
			b.waitFor(t, "3 jobs processed after resume", func() bool { return b.processed(t) == 3 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// holdClaimConn holds a cycleScript call on the client side (sent, not yet flushed) while
// hold is armed: a claim that passed the pause gate and has not reached Redis yet.
type holdClaimConn struct {
	redis.Conn
	hold    *atomic.Bool
	held    chan struct{} // receives once a call is being held
	release chan struct{}
	script  bool
}

func (c *holdClaimConn) Send(cmd string, args ...any) error {
	c.script = c.script || cmd == "EVALSHA"
	return c.Conn.Send(cmd, args...)
}

func (c *holdClaimConn) Do(cmd string, args ...any) (any, error) {
	if cmd == "" && c.script && c.hold.CompareAndSwap(true, false) {
		c.held <- struct{}{}
		<-c.release
	}
	c.script = false
	return c.Conn.Do(cmd, args...)
}

// A pause (SIGUSR2) that arrives while a claim is on its way to Redis was logged as
// "paused" at once, and that claim then took a job enqueued after the log line (CI: the
// command test TestSignalPauseAndResume under load). "paused" now comes only once the
// claims in flight are answered, and from then on no job is taken, in poll and blocking
// mode and with several slots (whose calls share one connection: the batcher).
func TestPauseWaitsForClaimsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name        string
		blocking    bool
		concurrency int
	}{{"poll", false, 1}, {"blocking", true, 1}, {"slots", false, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var hold atomic.Bool
			held, release := make(chan struct{}, 1), make(chan struct{})
			pool := &redis.Pool{
				MaxIdle: 8,
				DialContext: func(ctx context.Context) (redis.Conn, error) {
					c, err := redis.DialContext(ctx, "unix", b.srv.Socket)
					if err != nil {
						return nil, err
					}
					return &holdClaimConn{Conn: c, hold: &hold, held: held, release: release}, nil
				},
			}
			defer pool.Close()
			mux := NewMux()
			mux.HandleFunc("J", func(context.Context, *Job) error { return nil })
			var logs lockedBuffer
			cfg := b.config(t, mux, "q")
			cfg.Blocking, cfg.Concurrency = tc.blocking, tc.concurrency
			cfg.Logger = zerolog.New(&logs)
			w, err := NewWorker(pool, cfg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			defer func() { w.Shutdown(); waitRun(t, done, 10*time.Second) }()

			// The next claim (an empty one: poll, or the blocking watcher's interval) is held
			// on its way to Redis while the worker is paused.
			hold.Store(true)
			select {
			case <-held:
			case <-time.After(5 * time.Second):
				t.Fatal("no claim was sent")
			}
			w.Pause()
			time.AfterFunc(200*time.Millisecond, func() { close(release) })
			b.waitFor(t, `"paused" logged`, func() bool { return strings.Contains(logs.String(), `"paused:`) })
			for i := 0; i < 3; i++ {
				if _, err := b.client.Enqueue(bg, "q", "J", nil, EnqueueOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(300 * time.Millisecond)
			if n, _ := redis.Int(b.conn.Do("LLEN", b.keys.Queue("q"))); n != 3 || b.processed(t) != 0 {
				t.Fatalf("after \"paused\": %d of the 3 jobs enqueued since left, %d processed\n%s", n, b.processed(t), logs.String())
			}
			w.Resume()
			b.waitFor(t, "jobs done after resume", func() bool { return b.processed(t) == 3 })
		})
	}
}
