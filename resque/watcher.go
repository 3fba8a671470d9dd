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
// head onto itself, leaving the list unchanged. When it returns, it wakes one idle slot,
// the one waiting longest, which runs the claim script and takes the job atomically; once
// that claim is done the connection blocks again, so a queue holding more jobs wakes the
// next idle slot, one claim at a time. As with BLPOP, where Redis serves one blocked
// client per element, a job wakes one worker, not all: with many idle slots a job costs
// the wake-up, one claim and one outcome call. Pickup latency stays at one round trip more
// than BLPOP, and no job is ever held only by a connection.
type watcher struct {
	w *Worker

	mu     sync.Mutex
	queues map[string]*watchedQueue // by queue key
	ctx    context.Context          // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watchedQueue is one queue key's idle slots and whether a goroutine watches it.
type watchedQueue struct {
	waiters []*waiter // oldest first
	active  bool      // a goroutine is blocked on it
	// claimed receives the claim of the slot the goroutine woke: the queue is watched
	// again only after it, so one job does not wake several slots.
	claimed chan struct{}
}

// waiter is one idle slot in wait.
type waiter struct {
	wake  chan struct{} // receives when a queue of the slot has a job
	woken *watchedQueue // the queue whose goroutine woke it; nil when none did
}

func newWatcher(w *Worker) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &watcher{w: w, queues: map[string]*watchedQueue{}, ctx: ctx, cancel: cancel}
}

// wait returns when the slot is woken because one of the queue keys (strings) has a job,
// after timeout, or when the worker stops. claimed is not nil when the slot was woken: the
// slot calls it once its claim is done, which lets the queue's goroutine watch again.
func (wt *watcher) wait(keys []any, timeout time.Duration) (claimed func()) {
	me := &waiter{wake: make(chan struct{}, 1)}
	wt.mu.Lock()
	for _, k := range keys {
		key := k.(string)
		q := wt.queues[key]
		if q == nil {
			q = &watchedQueue{claimed: make(chan struct{}, 1)}
			wt.queues[key] = q
		}
		q.waiters = append(q.waiters, me)
		if !q.active {
			q.active = true
			wt.wg.Add(1)
			go wt.watch(key, q, timeout)
		}
	}
	wt.mu.Unlock()
	if len(keys) == 0 {
		timeout = min(timeout, time.Second) // QUEUE=* with no queue yet: re-read the set soon
	}
	t := time.NewTimer(timeout)
	select {
	case <-me.wake:
	case <-t.C:
	case <-wt.w.life.stopped():
	}
	t.Stop()
	wt.mu.Lock()
	for _, k := range keys {
		q := wt.queues[k.(string)]
		for i, x := range q.waiters {
			if x == me {
				q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
				break
			}
		}
	}
	woken := me.woken
	wt.mu.Unlock()
	if woken == nil {
		return nil
	}
	return func() {
		select {
		case woken.claimed <- struct{}{}:
		default:
		}
	}
}

// wakeOne wakes the slot waiting longest on q, and reports whether there was one.
func (wt *watcher) wakeOne(q *watchedQueue) bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	for _, x := range q.waiters {
		if x.woken == nil {
			x.woken = q
			x.wake <- struct{}{}
			return true
		}
	}
	return false
}

// claimWait bounds how long a queue's goroutine waits for the claim of the slot it woke
// before it watches again: a claim slower than this (Redis stalled) lets a second slot try.
const claimWait = time.Second

// watch blocks on key until it has a job, wakes one waiting slot and waits for its claim,
// and repeats while a slot waits on key.
func (wt *watcher) watch(key string, q *watchedQueue, timeout time.Duration) {
	defer wt.wg.Done()
	var conn redis.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var b backoff
	var claimTimer *time.Timer
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
				if !wt.stillWanted(q) {
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
			select {
			case <-q.claimed: // a stale claim from an earlier wake
			default:
			}
			if wt.wakeOne(q) {
				if claimTimer == nil {
					claimTimer = time.NewTimer(claimWait)
				} else {
					claimTimer.Reset(claimWait)
				}
				select {
				case <-q.claimed:
				case <-claimTimer.C:
				case <-wt.ctx.Done():
				}
				claimTimer.Stop()
			}
		default:
			b.reset()
		}
		if !wt.stillWanted(q) {
			return
		}
	}
}

// stillWanted reports whether a slot waits on q; if none does, the goroutine for q ends,
// so a non-empty queue cannot make it spin while every slot is busy.
func (wt *watcher) stillWanted(q *watchedQueue) bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if len(q.waiters) > 0 && wt.ctx.Err() == nil {
		return true
	}
	q.active = false
	return false
}

func (wt *watcher) close() {
	wt.cancel()
	wt.wg.Wait()
}
