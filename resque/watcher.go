package resque

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// watcher is goresque's answer to BLOCKING. php-resque blocks in BLPOP, which takes the
// job off the queue in the same command, so a worker killed right then loses it; and BLPOP
// cannot be made part of an atomic claim (a script cannot block).
//
// Instead, for each queue an idle worker watches, one connection blocks in
// BLMOVE queue queue LEFT LEFT: it waits until the list has an element and then "moves" the
// head onto itself, leaving the list unchanged. When it returns, every idle slot wakes up and
// runs the claim script, which takes the job atomically. Pickup latency stays at one round
// trip more than BLPOP, and no job is ever held only by a connection.
type watcher struct {
	w *Worker

	mu      sync.Mutex
	wake    chan struct{}   // closed and replaced whenever a watched queue has a job
	waiting map[string]int  // queue key -> number of slots waiting on it
	active  map[string]bool // queue key -> a goroutine is blocked on it
	ctx     context.Context // cancelled by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newWatcher(w *Worker) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &watcher{
		w:       w,
		wake:    make(chan struct{}),
		waiting: map[string]int{},
		active:  map[string]bool{},
		ctx:     ctx,
		cancel:  cancel,
	}
}

// wait returns when one of the queue keys (strings) has a job, after timeout, or when the
// worker stops.
func (wt *watcher) wait(keys []any, timeout time.Duration) {
	wt.mu.Lock()
	wake := wt.wake
	for _, k := range keys {
		key := k.(string)
		wt.waiting[key]++
		if !wt.active[key] {
			wt.active[key] = true
			wt.wg.Add(1)
			go wt.watch(key, timeout)
		}
	}
	wt.mu.Unlock()
	defer func() {
		wt.mu.Lock()
		for _, k := range keys {
			wt.waiting[k.(string)]--
		}
		wt.mu.Unlock()
	}()
	if len(keys) == 0 {
		timeout = min(timeout, time.Second) // QUEUE=* with no queue yet: re-read the set soon
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	case <-wt.w.life.stopped():
	}
}

// watch blocks on key until it has a job, wakes the waiting slots, and repeats while a slot
// waits on key.
func (wt *watcher) watch(key string, timeout time.Duration) {
	defer wt.wg.Done()
	var conn redis.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var b backoff
	for {
		if conn == nil || conn.Err() != nil {
			if conn != nil {
				conn.Close()
				conn = nil
			}
			c, err := wt.w.pool.GetContext(wt.ctx)
			if err != nil {
				if !b.wait(wt.ctx) {
					return
				}
				if !wt.stillWanted(key) {
					return
				}
				continue
			}
			conn = c
		}
		// Block at most 2 s at a time: the wait must stay below the connection's read
		// timeout, and each return re-checks whether a slot still waits.
		v, err := redis.DoContext(conn, wt.ctx, "BLMOVE", key, key, "LEFT", "LEFT", min(timeout, 2*time.Second).Seconds())
		switch {
		case err != nil && !errors.Is(err, redis.ErrNil):
			if wt.ctx.Err() != nil {
				return
			}
			if !b.wait(wt.ctx) {
				return
			}
		case v != nil:
			b.reset()
			wt.mu.Lock()
			close(wt.wake)
			wt.wake = make(chan struct{})
			wt.mu.Unlock()
		default:
			b.reset()
		}
		if !wt.stillWanted(key) {
			return
		}
	}
}

// stillWanted reports whether a slot waits on key; if none does, the goroutine for key ends,
// so a non-empty queue cannot make it spin while every slot is busy.
func (wt *watcher) stillWanted(key string) bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if wt.waiting[key] > 0 && wt.ctx.Err() == nil {
		return true
	}
	wt.active[key] = false
	return false
}

func (wt *watcher) close() {
	wt.cancel()
	wt.wg.Wait()
}
