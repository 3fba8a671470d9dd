package resque

import (
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// startDelay is how long a job's start (status "running", v1.3.6's job:<id>:pid) may wait
// unsent while its handler runs. A job that finishes within it has its start carried in
// the call that records its outcome (cycleScript applies it just before the outcome), so
// it costs Redis one script call and one wake-up instead of two; php-resque's writes are
// all made, in its order. A longer job's start is sent when the delay ends, as
// Resque_Job_Status::update(STATUS_RUNNING) is sent before perform: "running" shows at most
// startDelay late, and only for a job shorter than startDelay never shows.
const startDelay = 2 * time.Millisecond

// deferredStart is a slot's job start while it waits: the slot's goroutine runs the
// handler, and the timer's goroutine sends the start when the delay ends first. mu orders
// the two: whichever comes first decides.
type deferredStart struct {
	mu    sync.Mutex
	state startState
	args  startArgs
	conn  redis.Conn // the slot's connection, used by send while the slot runs the handler
	batch *batcher   // instead of conn when the Worker batches its slots' calls
	req   *batchReq  // the start as submitted to batch
	err   error      // send's error, for the slot to handle
	timer *time.Timer
}

type startState int

const (
	startNone    startState = iota
	startWaiting            // armed; the handler runs
	startSent               // send flushed it: its reply is to be read on conn
)

// deferStart arms job's start: sent by the timer after startDelay, or taken by takeStart.
func (s *slot) deferStart(job *Job) {
	s.refreshSecond()
	d := &s.start
	a := startArgs{
		statusKey: s.w.keys.JobStatus(job.ID, job.Prefix), pidKey: s.w.keys.JobPID(job.ID),
		head: s.second.runHead, tail: s.second.runTail, splice: s.second.spl, pid: s.pid,
	}
	a.head, a.tail = withAttempt(a.head, a.tail, job.Attempt())
	a.head, a.tail = withImpl(a.head, a.tail, job)
	conn := s.conn
	if conn != nil && conn.Err() != nil {
		conn = nil
	}
	batch := s.w.batch
	d.mu.Lock()
	d.args, d.conn, d.batch, d.req, d.err, d.state = a, conn, batch, nil, nil, startWaiting
	d.mu.Unlock()
	if conn == nil && batch == nil {
		return // the connection broke: the finishing call carries the start, on a new one
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(s.w.startDelay, d.send)
	} else {
		d.timer.Reset(s.w.startDelay)
	}
}

// send is the timer's: the handler still runs, so the start goes now, on its own.
func (d *deferredStart) send() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != startWaiting || d.conn == nil && d.batch == nil {
		return // taken, a late timer of an earlier job, or no connection to send it on
	}
	d.state = startSent
	if d.batch != nil {
		d.req = d.batch.submit(d.args.evalsha())
		return
	}
	err := d.conn.Send("EVALSHA", d.args.evalsha()...)
	if err == nil {
		err = d.conn.Flush()
	}
	d.err = err
}

// drop discards a start still waiting (the executor's abandon).
func (d *deferredStart) drop() {
	d.mu.Lock()
	if d.state == startWaiting {
		d.state = startNone
	}
	d.mu.Unlock()
}

// takeStart ends the wait once the handler returned: it returns the start for the
// finishing call to carry, or nil when it was sent (its reply is then pending on the
// connection) or there was none.
func (s *slot) takeStart() *startArgs {
	d := &s.start
	d.mu.Lock()
	state, err, req := d.state, d.err, d.req
	d.state, d.conn, d.err, d.batch, d.req = startNone, nil, nil, nil, nil
	d.mu.Unlock()
	switch state {
	case startWaiting:
		d.timer.Stop()
		a := d.args
		return &a
	case startSent:
		if req != nil {
			s.startReq = req
			return nil
		}
		if err != nil {
			s.replyFailed(err)
		} else {
			s.pendingStart = true
		}
	}
	return nil
}
