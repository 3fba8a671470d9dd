package resque

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func scard(t *testing.T, b *testBundle, key string) int {
	t.Helper()
	n, err := redis.Int(b.conn.Do("SCARD", key))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// BLOCKING with many idle slots: a job wakes one slot, not all of them (each woken slot
// runs a claim script). A job costs the watcher's wake-up (BLMOVE), one claim and one
// outcome call (issue #12: at most 3 Redis calls per job at light load).
func TestBlockingJobWakesOneSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := NewMux()
	mux.HandleFunc("J", func(context.Context, *Job) error { return nil })
	cfg := b.config(t, mux, "q")
	cfg.Blocking = true
	cfg.Concurrency = 8
	cfg.Interval = 30 * time.Second // no timed polls: every claim is a wake-up's
	_, stop := b.start(t, cfg)
	b.waitFor(t, "8 slots registered", func() bool { return scard(t, b, b.keys.Workers()) == 8 })
	time.Sleep(300 * time.Millisecond) // every slot reaches its wait
	mon, stopMon := b.srv.Monitor(t)
	const n = 10
	for i := range n {
		if _, err := b.client.Enqueue(bg, "q", "J", nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		b.waitFor(t, "the job processed", func() bool { return b.processed(t) == i+1 })
		time.Sleep(20 * time.Millisecond) // the slot is idle again
	}
	stopMon()
	calls := 0
	for _, l := range mon() {
		lc := strings.ToLower(l)
		if strings.Contains(l, b.ns) && (strings.HasPrefix(lc, `"evalsha" "`+cycleScript.Hash()+`"`) || strings.HasPrefix(lc, `"blmove"`)) {
			calls++
		}
	}
	if calls > 3*n+2 {
		t.Errorf("%d claim calls and BLMOVE wake-ups for %d jobs, one at a time, with 8 idle slots; want at most 3 per job", calls, n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A burst still wakes every idle slot: the slot woken first claims, then the next is
// woken while the queue has jobs.
func TestBlockingBurstWakesEverySlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const slots = 4
	var mu sync.Mutex
	running := 0
	all := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("J", func(ctx context.Context, _ *Job) error {
		mu.Lock()
		running++
		if running == slots {
			close(all)
		}
		mu.Unlock()
		select { // each job runs until every slot has one
		case <-all:
		case <-time.After(10 * time.Second):
		}
		return nil
	})
	cfg := b.config(t, mux, "q")
	cfg.Blocking = true
	cfg.Concurrency = slots
	cfg.Interval = 30 * time.Second
	_, stop := b.start(t, cfg)
	b.waitFor(t, "slots registered", func() bool { return scard(t, b, b.keys.Workers()) == slots })
	time.Sleep(300 * time.Millisecond)
	for range slots {
		if _, err := b.client.Enqueue(bg, "q", "J", nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d jobs of a burst of %d ran at once on %d idle slots; want all", running, slots, slots)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
