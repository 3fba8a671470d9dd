package resque

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// A batcher is the group commit of a Worker's slots: the script calls of the slots that
// are ready at the same time go to Redis as one pipelined write on one connection, and
// their replies come back in order in one read. Redis then pays one read and one write
// (and the worker one of each) for several jobs instead of one per job; the scripts and
// their guarantees are unchanged, only the transport is shared. There is no timer: a call
// waits only for the batch already on its way (group commit, not delay).
//
// A call's fate when the connection breaks is the same as on a slot's own connection:
// unknown, so every call of the batch fails and each slot replays its own (cycleScript's
// guard makes a replay safe). FIFO order on the one connection keeps a job's start, sent by
// its timer, ahead of the call that finishes the job.
type batcher struct {
	w *Worker

	mu     sync.Mutex
	queue  []*batchReq
	spare  []*batchReq
	closed bool
	wake   chan struct{} // capacity 1: a request is queued

	connMu sync.Mutex
	conn   redis.Conn // nil: none yet, or dropped after an error

	slowTimer *time.Timer
}

// batchReq is one script call: its EVALSHA arguments (the SHA1 first), and, once done is
// closed, its reply or the error that lost it.
type batchReq struct {
	args  []any
	reply any
	err   error
	done  chan struct{}
}

// errBatcherClosed is a stop, not Redis failing (link.fail ignores it).
var errBatcherClosed = fmt.Errorf("resque: worker stopped: %w", context.Canceled)

func newBatcher(w *Worker) *batcher {
	return &batcher{w: w, wake: make(chan struct{}, 1)}
}

// open returns b, or nil when b is nil or closed (a slot left behind after the stop then
// uses its own connection).
func (b *batcher) open() *batcher {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b
}

// submit queues a call; it never blocks (a timer's goroutine submits starts under a lock).
func (b *batcher) submit(args []any) *batchReq {
	r := &batchReq{args: args, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		r.err = errBatcherClosed
		close(r.done)
		return r
	}
	b.queue = append(b.queue, r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return r
}

// ensure makes sure the batcher has a connection with the scripts loaded, dialing within
// ctx; slots call it through link.retry, so a Redis that is down is dialed with backoff.
func (b *batcher) ensure(ctx context.Context) error {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.conn != nil && b.conn.Err() == nil {
		return nil
	}
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	c, err := b.w.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	if err := loadScripts(ctxConn{c, ctx}); err != nil {
		c.Close()
		return err
	}
	b.conn = c
	return nil
}

func (b *batcher) drop(c redis.Conn) {
	b.connMu.Lock()
	if b.conn == c {
		b.conn = nil
	}
	b.connMu.Unlock()
	c.Close()
}

// loop runs the batches until ctx ends; the calls still queued then fail.
func (b *batcher) loop(ctx context.Context) {
	defer func() {
		b.mu.Lock()
		b.closed = true
		q := b.queue
		b.queue = nil
		b.mu.Unlock()
		for _, r := range q {
			r.err = errBatcherClosed
			close(r.done)
		}
		b.connMu.Lock()
		if b.conn != nil {
			b.conn.Close()
			b.conn = nil
		}
		b.connMu.Unlock()
	}()
	for {
		select {
		case <-b.wake:
		case <-ctx.Done():
			return
		}
		b.mu.Lock()
		reqs := b.queue
		b.queue = b.spare[:0]
		b.mu.Unlock()
		if len(reqs) > 0 {
			b.run(reqs)
		}
		clear(reqs)
		b.mu.Lock()
		b.spare = reqs[:0]
		b.mu.Unlock()
	}
}

// run sends reqs as one pipelined write and hands each its reply.
func (b *batcher) run(reqs []*batchReq) {
	ctx := b.w.life.finish
	fail := func(err error) {
		for _, r := range reqs {
			r.err = err
			close(r.done)
		}
	}
	if err := b.ensure(ctx); err != nil {
		fail(err)
		return
	}
	b.connMu.Lock()
	conn := b.conn
	b.connMu.Unlock()
	if conn == nil {
		fail(errors.New("resque: connection dropped"))
		return
	}
	for _, r := range reqs {
		if err := conn.Send("EVALSHA", r.args...); err != nil {
			b.drop(conn)
			fail(err)
			return
		}
	}
	replies, err := b.roundTrip(ctx, conn)
	if err == nil && len(replies) != len(reqs) {
		err = fmt.Errorf("resque: %d replies to %d pipelined calls", len(replies), len(reqs))
	}
	if err != nil {
		b.drop(conn)
		fail(err)
		return
	}
	for _, v := range replies {
		if e, ok := v.(redis.Error); ok && isNoScript(e) {
			_ = loadScripts(ctxConn{conn, ctx}) // Redis restarted: the replays find them again
			break
		}
	}
	for i, r := range reqs {
		r.reply = replies[i]
		close(r.done)
	}
}

// roundTrip is slot.roundTrip for the shared connection.
func (b *batcher) roundTrip(ctx context.Context, conn redis.Conn) ([]any, error) {
	return b.w.link.roundTrip(ctx, conn, &b.slowTimer)
}

// wait returns r's reply, or ctx's error when ctx ends first.
func (r *batchReq) wait(ctx context.Context) (any, error) {
	select {
	case <-r.done:
		return r.reply, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("resque: %w", context.Cause(ctx))
	}
}

// slotConn is the connection a slot in a batching Worker hands to the rare calls made
// outside its script (adopt, the routing rules' reload): its own, dialed on first use.
type slotConn struct {
	redis.Conn // nil: only Do is used
	s          *slot
	ctx        context.Context
}

func (c slotConn) Do(cmd string, args ...any) (any, error) {
	conn, err := c.s.connect(c.ctx)
	if err != nil {
		return nil, err
	}
	v, err := doContext(conn, c.ctx, cmd, args...)
	if err != nil && !isCommandError(err) {
		c.s.dropConn()
	}
	return v, err
}
