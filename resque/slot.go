package resque

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
	"github.com/rs/zerolog"
)

// A slot is one php-resque worker inside a Worker: one id, one job at a time. A lone slot
// has a Redis connection of its own; several share one for their scripts (batcher). Its loop is Resque_Worker::work: take a job from the queues in priority order,
// record it, perform it (its executor does), record the outcome, repeat; sleep (or block)
// when every queue is empty.
//
// Per job it makes one round trip and one script call in steady state: cycleScript records
// the outcome of a job and claims the next one, atomically, and carries the job's start
// when the job finished within startDelay; a longer job's start (startScript, which marks
// it running) is sent when the delay ends and its reply read with the next round trip.
type slot struct {
	w   *Worker
	n   int
	id  string
	log zerolog.Logger

	conn         redis.Conn
	pendingStart bool      // a startScript reply is still to be read from conn
	startReq     *batchReq // batching: the start sent by its timer, reply still to be read
	start        deferredStart
	pid          string // for job:<id>:pid in the v1.3.6 dialect, "" otherwise
	second       perSecond
	args         cycleArgs
	buf          []any // reused: redigo copies arguments when it sends them
	slowTimer    *time.Timer
	refused      map[string]bool // messages refusedOnce logged
	queues       []string        // the queue names of args.queueKeys; for QUEUE=* set by each claim
	pick         wildcardPick    // QUEUE=*: what the last claim tried
	paused       bool            // the last claim found pause-all-workers set
	wakeClaimed  func()          // not nil when the watcher woke the slot: see claimDone
	empty        bool            // the last claim found nothing to take (queues empty, or paused)

	exec executor

	gone     chan struct{} // closed when Run no longer waits for this slot
	goneOnce sync.Once
}

func newSlot(w *Worker, n int, id string) *slot {
	s := &slot{w: w, n: n, id: id, log: w.cfg.Logger.With().Str("worker", id).Logger(), gone: make(chan struct{})}
	s.exec = executor{w: w, id: id, log: s.log, markGone: s.markGone, dropStart: s.start.drop}
	return s
}

func (s *slot) markGone() { s.goneOnce.Do(func() { close(s.gone) }) }

// perSecond caches what changes only once a second: the run_at tail of the "working on"
// record and the running status packet.
type perSecond struct {
	sec                   int64
	tail                  string
	runHead, runTail, spl string
}

func (s *slot) run() {
	defer func() {
		if s.conn != nil {
			s.conn.Close()
		}
	}()
	s.setQueues(s.w.cfg.Queues)
	if s.w.cfg.Dialect == DialectPHPResque136 {
		s.pid = itoa(s.w.cfg.pid)
	}
	s.initKeys()
	var next *claimed
	for {
		if next == nil {
			next = s.claim()
			if next == nil {
				if s.w.life.stopping() {
					return
				}
				continue
			}
		}
		next = s.process(next)
	}
}

// claim takes the next job, or waits (pause, idle interval) and returns nil.
func (s *slot) claim() *claimed {
	life := s.w.life
	if life.stopping() {
		s.claimDone()
		return nil
	}
	if !life.beginClaim() {
		s.claimDone()
		if gate := life.gate(); gate != nil {
			select {
			case <-gate:
			case <-life.stopped():
			}
		}
		return nil
	}
	c, err := s.cycle(nil, true)
	s.endClaim()
	s.claimDone()
	if err != nil {
		if !life.stopping() {
			s.log.Debug().Err(err).Msg("claim")
		}
		return nil // cycle reconnects with backoff itself
	}
	if c == nil {
		s.idle()
	}
	return c
}

// endClaim ends a claim begun with lifecycle.beginClaim, announcing a pause that waited
// for it.
func (s *slot) endClaim() {
	if s.w.life.endClaim() {
		s.w.logPaused()
	}
}

// claimDone tells the watcher that woke the slot (BLOCKING) that its claim is done, so
// that a queue with more jobs wakes the next idle slot.
func (s *slot) claimDone() {
	if s.wakeClaimed != nil {
		s.wakeClaimed()
		s.wakeClaimed = nil
	}
}

// setQueues sets the queues every claim tries, in priority order; for QUEUE=* the Worker's
// wildcard list sets them before each claim instead.
func (s *slot) setQueues(qs []string) {
	if s.w.wild != nil {
		return
	}
	s.queues = qs
	k := s.w.keys
	s.args.queueKeys = s.args.queueKeys[:0]
	s.args.heads = s.args.heads[:0]
	for _, q := range qs {
		s.args.queueKeys = append(s.args.queueKeys, k.Queue(q))
		h, _ := phpjson.AppendString([]byte(`{"queue":`), validUTF8(q))
		s.args.heads = append(s.args.heads, string(h))
	}
}

// initKeys builds the slot's fixed keys; run calls it before the first job, after which
// they never change (the executor's abandon reads them from another goroutine).
func (s *slot) initKeys() {
	k := s.w.keys
	s.args.fixed = [8]any{k.Worker(s.id), k.InFlight(), k.Queues(), k.Stat("processed"),
		k.WorkerStat("processed", s.id), k.Stat("failed"), k.WorkerStat("failed", s.id), k.Failed()}
	s.args.id = s.id
	s.args.pauseKey = k.PauseAllWorkers()
	s.args.routesRev = k.RoutesRev()
	s.args.sched = k.DelayedSchedule()
	s.exec.fixed = s.args.fixed
}

// refreshSecond updates the per-second cache.
func (s *slot) refreshSecond() {
	w := s.w
	now := w.cfg.now()
	if sec := now.Unix(); sec != s.second.sec {
		t, _ := phpjson.AppendString([]byte(`,"run_at":`), w.cfg.Dialect.date(now.In(w.cfg.Location)))
		head, rtail, splice := statusUpdate(w.cfg.Dialect, StatusRunning, now, nil)
		s.second = perSecond{sec: sec, tail: string(append(t, `,"payload":`...)), runHead: head, runTail: rtail, spl: boolFlag(splice)}
	}
}

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// cycle records fin (when not nil) and, when claim is true, takes the next job, in one
// round trip. It returns the claimed job, or nil when there is none (or claim is false).
//
// Errors are of two kinds, handled apart. A connection error (a broken or timed-out
// connection: net errors, EOF) loses the reply, not necessarily the command: the
// connection is replaced and the step replayed, which is safe because finishing is guarded
// by the in-flight record and a claim whose reply was lost is found again as this slot's
// in-flight job. A command error (redis.Error: a read-only replica, OOM, a key of the wrong
// type) is Redis refusing the script before it wrote anything (cycleScript checks first and
// protects every write after its guard); it is logged with its cause and retried every
// second, never as "unreachable". Writes refused after the guard, and queue keys skipped,
// come back in the reply and are logged once each.
//
// The error is non-nil only when it gave up: ctx ended (a stop) while Redis could not be
// reached or refused the script.
func (s *slot) cycle(fin *outcome, claim bool) (_ *claimed, err error) {
	// ctx bounds the round trips: before a stop they wait for as long as Redis takes; once
	// stopping, they share the stop budget, so a claim Redis already ran is not cut off
	// (its job is performed, as QUIT wants) and a hung Redis cannot hold the stop.
	// retryCtx bounds new attempts: a claim alone is not retried once stopping (a claim it
	// gave up on after Redis ran it is settled by Run: unregisterSettled).
	ctx := s.w.life.begin()
	defer func() { s.w.life.end(err == nil) }()
	retryCtx := ctx
	if fin == nil {
		retryCtx = s.w.life.stopCtx
	}
	if claim {
		s.exec.beginClaim()
		defer s.exec.endClaim()
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && retryCtx.Err() != nil {
			return nil, fmt.Errorf("resque: stopping: %w", context.Cause(retryCtx))
		}
		var conn redis.Conn
		batch := s.w.batch.open()
		if b := batch; b != nil {
			if err := s.w.link.retry(retryCtx, func() error { return b.ensure(retryCtx) }); err != nil {
				return nil, err
			}
			conn = slotConn{s: s, ctx: ctx}
		} else if conn, err = s.connect(retryCtx); err != nil {
			return nil, err
		}
		s.args.fin, s.args.claim = fin, claim
		if claim && s.w.wild != nil {
			if err := s.w.link.retry(retryCtx, func() error { return s.w.wild.fill(ctx, s) }); err != nil {
				return nil, err
			}
		}
		if claim {
			s.refreshSecond()
			s.args.recordTail = s.second.tail
			s.args.token = strconv.FormatUint(rand.Uint64(), 36)
		}
		s.buf = s.args.evalshaTo(s.buf[:0])
		var replies []any
		if batch != nil {
			replies, err = s.batched(ctx, batch)
		} else if err = conn.Send("EVALSHA", s.buf...); err == nil {
			replies, err = s.roundTrip(ctx, conn)
		}
		if err != nil {
			s.replyFailed(err)
			continue
		}
		if s.pendingStart {
			s.pendingStart = false
			if e, ok := replies[0].(redis.Error); ok {
				s.noteScriptError(e)
				if !isNoScript(e) { // NOSCRIPT: Redis restarted; reloaded above
					s.refusedOnce("start: " + string(e))
				}
			}
			replies = replies[1:]
		}
		if e, ok := replies[0].(redis.Error); ok {
			s.noteScriptError(e)
			if isNoScript(e) && attempt < 3 {
				continue
			}
			s.w.link.fail(e)
			select {
			case <-retryCtx.Done():
				return nil, fmt.Errorf("resque: redis refused the worker's script: %w", e)
			case <-time.After(time.Second):
			}
			continue
		}
		s.w.link.up()
		vals, err := redis.Values(replies[0], nil)
		if err != nil || len(vals) != cycleReplyLen {
			return nil, fmt.Errorf("resque: unexpected cycle reply %v", replies[0])
		}
		if refused, _ := redis.Strings(vals[3], nil); len(refused) > 0 {
			for _, r := range refused {
				s.refusedOnce(r)
			}
		}
		if fin != nil {
			// Not finished by this call: by an earlier attempt whose reply was lost, or by
			// a pruner that found the worker dead.
			if n, _ := redis.Int(vals[0], nil); n != 1 && attempt == 0 {
				s.log.Warn().Msg("the job's in-flight record was settled by someone else meanwhile (pruned as dead?); outcome not recorded twice")
			}
			fin = nil
			// The executor holds the finished job until it holds the next (hold below),
			// so no instant passes in which a kill finds neither.
			if !claim {
				s.exec.hold(nil)
				return nil, nil
			}
		}
		if batch == nil {
			conn = ctxConn{conn, ctx}
		}
		c, again, err := s.claimReply(conn, vals)
		if err != nil {
			s.exec.hold(nil)
			if again {
				s.replyFailed(err)
				continue
			}
			return nil, err
		}
		if again {
			s.exec.hold(nil) // the finished job, if any
			continue
		}
		s.exec.hold(c)
		return c, nil
	}
}

// roundTrip flushes what was sent on conn and reads every reply. A reply slower than
// slowReply is logged (once for all slots) while it is awaited: CLIENT PAUSE, a busy
// script or a stalled network otherwise leave a worker silent until the read times out.
func (s *slot) roundTrip(ctx context.Context, conn redis.Conn) ([]any, error) {
	return s.w.link.roundTrip(ctx, conn, &s.slowTimer)
}

// batched sends the prepared call through the Worker's batcher and returns its replies as
// roundTrip does: the reply of a start sent meanwhile (still to be read) first.
func (s *slot) batched(ctx context.Context, b *batcher) ([]any, error) {
	start := s.startReq
	s.startReq = nil
	r := b.submit(s.buf)
	v, err := r.wait(ctx)
	if err != nil {
		s.buf = nil // the batcher may still be sending it
		return nil, err
	}
	if start == nil {
		return []any{v}, nil
	}
	// FIFO: the start was queued before this call, so its reply is in.
	sv, serr := start.wait(ctx)
	if serr != nil {
		return []any{v}, nil // lost with a connection, as on a slot's own
	}
	s.pendingStart = true
	return []any{sv, v}, nil
}

// slowReply is how long a reply may take before the wait is logged.
const slowReply = 5 * time.Second

// refusedOnce logs a write Redis refused, or a queue skipped, once per slot and message:
// a counter holding "abc" or a queue key of the wrong type would otherwise log every job.
func (s *slot) refusedOnce(msg string) {
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	if s.refused[msg] || len(s.refused) > 100 {
		return
	}
	s.refused[msg] = true
	s.log.Error().Str("refused", msg).Msg("redis refused a command (logged once); the worker goes on without it")
}

// claimReply reads the claim part of a cycleScript reply: the job claimed, or nil when
// every queue was empty; again is true when the claim is to be repeated (the QUEUE=* list
// was rebuilt, or with err set: the adopted record could not be read).
func (s *slot) claimReply(conn redis.Conn, vals []any) (c *claimed, again bool, err error) {
	code, _ := redis.Int(vals[1], nil)
	s.paused = code == -4
	s.empty = code == -3 || code == -4
	if code != -1 && code != -2 {
		s.w.routes.seen(vals[4], conn, s.w)
	}
	switch {
	case code == -3 && s.w.wild != nil: // every queue tried was empty
		return nil, s.w.wild.claimed(&s.pick, -1), nil
	case code == -3 || code == -4:
		return nil, false, nil
	case code == -1: // QUEUE=* and the queues set changed size: scan, claim again
		s.w.wild.stale()
		return nil, true, nil
	case code == -2: // a job is in flight that this slot does not know: adopt it
		c, err := s.adopt(conn)
		return c, err != nil, err
	case code >= 0 && code < len(s.queues):
		payload, err := redis.Bytes(vals[2], nil)
		if err != nil {
			return nil, false, err
		}
		if s.w.wild != nil {
			s.w.wild.claimed(&s.pick, code)
		}
		return &claimed{queue: s.queues[code], payload: payload, sha: sha1hex(s.args.inflightRecord(int(code), payload))}, false, nil
	}
	return nil, false, fmt.Errorf("resque: unexpected cycle reply %v", vals)
}

// adopt takes over the in-flight record Redis holds for this slot, which happens when a
// claim ran but its reply was lost with the connection: the job is performed, not lost.
func (s *slot) adopt(conn redis.Conn) (*claimed, error) {
	rec, err := redis.Bytes(conn.Do("HGET", s.w.keys.InFlight(), s.id))
	if err != nil {
		return nil, err
	}
	q, payload := parseWorkingOn(rec)
	s.log.Warn().Str("queue", q).Msg("resuming a job claimed before the connection was lost")
	return &claimed{queue: q, payload: payload, sha: sha1hex(rec)}, nil
}

// idle waits after an empty round: php-resque sleeps INTERVAL; in Blocking mode the
// watcher wakes the slot as soon as a queue gets a job.
func (s *slot) idle() {
	if s.w.wild != nil && !s.pick.small { // no watcher for more than wildcardSmall queues
		s.w.wild.idle(&s.pick, s.w.wild.idleGap, s.w.life.stopped())
		return
	}
	if s.w.watch != nil && !s.paused { // paused, a queue with jobs must not wake it
		s.wakeClaimed = s.w.watch.wait(s.args.queueKeys, s.w.cfg.Interval)
		return
	}
	t := time.NewTimer(s.w.cfg.Interval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.w.life.stopped():
	}
}

// process has the executor perform c, then records its outcome; it returns the next job
// when one was claimed in the same round trip.
func (s *slot) process(c *claimed) *claimed {
	job, perr := decodePayload(c.queue, c.payload)
	job.Worker = s.id
	if perr == nil {
		job.impl = s.w.implementation(job) // after the claim's reload of the routing rules
	}
	if perr == nil && job.ID != "" {
		s.deferStart(job)
	}
	fin := s.exec.run(c, job, perr)
	start := s.takeStart()
	if fin == nil {
		return nil // abandoned: the watchdog recorded it (a start still waiting is dropped)
	}
	fin.start = start
	claim := s.w.life.beginClaim()
	s.empty = false
	next, cerr := s.cycle(fin, claim)
	if claim {
		s.endClaim()
	}
	if cerr != nil && !s.exec.settled() {
		s.log.Error().Err(cerr).Msg("job result not written: redis unreachable while stopping; the job stays in flight and the next prune records it")
	}
	if next == nil && cerr == nil && claim && s.empty {
		// This call's claim found nothing: wait now, as claim would after a claim of its
		// own, rather than spend a round trip on a second empty claim.
		s.idle()
	}
	return next
}

func isNoScript(e redis.Error) bool { return strings.HasPrefix(string(e), "NOSCRIPT") }

func (s *slot) noteScriptError(e redis.Error) {
	if isNoScript(e) && s.conn != nil {
		_ = loadScripts(s.conn)
	}
}

// connect returns the slot's connection, dialing with backoff while ctx allows.
func (s *slot) connect(ctx context.Context) (redis.Conn, error) {
	if s.conn != nil && s.conn.Err() == nil {
		return s.conn, nil
	}
	s.dropConn()
	err := s.w.link.retry(ctx, func() error {
		c, err := s.w.pool.GetContext(ctx)
		if err != nil {
			return err
		}
		if err := loadScripts(ctxConn{c, ctx}); err != nil {
			c.Close()
			return err
		}
		s.conn = c
		return nil
	})
	return s.conn, err
}

func (s *slot) dropConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.pendingStart = false
}

// replyFailed handles an error from a command: a broken connection is dropped (the next
// connect dials again); NOSCRIPT reloads the scripts.
func (s *slot) replyFailed(err error) {
	var re redis.Error
	if errors.As(err, &re) {
		s.noteScriptError(re)
		return
	}
	s.w.link.fail(err)
	s.dropConn()
}
