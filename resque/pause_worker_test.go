package resque

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
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
