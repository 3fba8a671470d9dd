package resque

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
	"github.com/rs/zerolog"
)

// A slot is one php-resque worker inside a Worker: one id, one Redis connection, one job at
// a time. Its loop is Resque_Worker::work: take a job from the queues in priority order,
// record it, perform it, record the outcome, repeat; sleep (or block) when every queue is
// empty.
//
// Per job it makes one round trip and one script call in steady state: cycleScript records
// the outcome of a job, claims the next one and starts it, atomically.
type slot struct {
	w   *Worker
	n   int
	id  string
	log zerolog.Logger

	conn         redis.Conn
	pendingStart bool     // a startScript reply is still to be read from conn
	inflight     *claimed // claimed in Redis and not yet finished there
	pid          string   // for job:<id>:pid in the v1.3.6 dialect, "" otherwise
	jobPrefix    string
	keys         slotKeys
	second       perSecond
	args         []any // reused: redigo copies arguments when it sends them

	// The queue list, rebuilt when QUEUE=* sees the queues set change.
	queues    []string
	claimKeys []any // worker:<id>, inflight hash, queues set, queue:<q>...
	heads     []string
	wildcard  bool

	mu         sync.Mutex
	jobCancel  context.CancelCauseFunc // of the running job
	jobGen     uint64                  // counts jobs, so a late watchdog knows its job is gone
	running    *claimed
	runningJob *Job
	watchdog   *time.Timer // armed by kill
	abandoned  bool        // the watchdog recorded the running job's outcome

	gone     chan struct{} // closed when Run no longer waits for this slot
	goneOnce sync.Once
}

func (s *slot) setInflight(c *claimed) {
	s.mu.Lock()
	s.inflight = c
	s.mu.Unlock()
}

// settled reports whether the slot holds no job whose outcome is still to be written.
func (s *slot) settled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight == nil || s.abandoned
}

// claimed is a job cycleScript moved into this slot's in-flight record.
type claimed struct {
	queue   string
	payload []byte
	sha     string // SHA1 of the in-flight record, the guard of the finishing step
	started bool   // cycleScript already wrote the running status and pid key
}

// outcome is what finishing a job writes: the cycleScript arguments ARGV[2..8] and the
// keys of the job (KEYS[9], KEYS[10]).
type outcome struct {
	sha, failure, head, tail, splice, delPID string
	statusKey, pidKey                        string
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
			if s.w.quitting() {
				return
			}
			if gate := s.w.pauseGate(); gate != nil {
				select {
				case <-gate:
				case <-s.w.quitCh:
				}
				continue
			}
			c, err := s.cycle(nil, true)
			if err != nil {
				if s.w.quitting() {
					return
				}
				s.log.Debug().Err(err).Msg("claim")
				continue // cycle reconnects with backoff itself
			}
			if c == nil {
				s.idle()
				continue
			}
			next = c
		}
		next = s.process(next)
	}
}

func (s *slot) setQueues(qs []string) {
	s.wildcard = len(qs) == 1 && qs[0] == "*"
	if s.wildcard {
		qs = nil
	}
	s.queues = qs
	k := s.w.keys
	s.claimKeys = s.claimKeys[:0]
	s.heads = s.heads[:0]
	for _, q := range qs {
		s.claimKeys = append(s.claimKeys, k.Queue(q))
		h, _ := phpjson.AppendString([]byte(`{"queue":`), validUTF8(q))
		s.heads = append(s.heads, string(h))
	}
}

// slotKeys are the keys of a slot that do not change from job to job, built once.
type slotKeys struct {
	fixed []any // KEYS[1..8] of cycleScript
	noJob [2]any
}

// perSecond caches what changes only once a second: the run_at tail of the "working on"
// record and the running status packet.
type perSecond struct {
	sec                   int64
	tail                  string
	runHead, runTail, spl string
}

// initKeys builds the slot's fixed keys; run calls it before the first job, after which
// they never change (abandon reads them from another goroutine).
func (s *slot) initKeys() {
	k := s.w.keys
	s.keys.fixed = []any{k.Worker(s.id), k.InFlight(), k.Queues(), k.Stat("processed"),
		k.WorkerStat("processed", s.id), k.Stat("failed"), k.WorkerStat("failed", s.id), k.Failed()}
	s.keys.noJob = [2]any{k.JobStatus("-", ""), k.JobPID("-")} // placeholders, never touched
	s.jobPrefix = k.jobPrefix()
}

// cycleArgs returns the cycleScript arguments, appended to buf, and the record tail the
// claim uses. Without claim it reads only what initKeys set, so abandon can call it.
func (s *slot) cycleArgs(buf []any, fin *outcome, claim bool) (args []any, tail string) {
	w := s.w
	args = buf[:0]
	nq := 0
	if claim {
		nq = len(s.claimKeys)
	}
	args = append(args, 10+nq)
	args = append(args, s.keys.fixed...)
	if fin != nil {
		args = append(args, fin.statusKey, fin.pidKey)
	} else {
		args = append(args, s.keys.noJob[:]...)
	}
	if claim {
		args = append(args, s.claimKeys...)
	}
	args = append(args, s.id)
	if fin != nil {
		args = append(args, fin.sha, fin.failure, fin.head, fin.tail, fin.splice, statusTTLArg, fin.delPID)
	} else {
		args = append(args, "", "", "", "", "0", statusTTLArg, "0")
	}
	if !claim {
		return append(args, "", "", s.jobPrefix, "", "", "", "0"), ""
	}
	now := w.cfg.now()
	if sec := now.Unix(); sec != s.second.sec {
		t, _ := phpjson.AppendString([]byte(`,"run_at":`), w.cfg.Dialect.date(now.In(w.cfg.Location)))
		head, rtail, splice := statusUpdate(w.cfg.Dialect, StatusRunning, now, nil)
		s.second = perSecond{sec: sec, tail: string(append(t, `,"payload":`...)), runHead: head, runTail: rtail, spl: boolFlag(splice)}
	}
	tail = s.second.tail
	n := ""
	if s.wildcard {
		n = itoa(len(s.queues))
	}
	args = append(args, tail, n, s.jobPrefix, s.pid, s.second.runHead, s.second.runTail, s.second.spl)
	for _, h := range s.heads {
		args = append(args, h)
	}
	if s.wildcard {
		for _, q := range s.queues {
			args = append(args, q)
		}
	}
	return args, tail
}

var statusTTLArg = itoa(statusTTL)

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// cycle records fin (when not nil) and, when claim is true, takes the next job, in one
// round trip. A connection that breaks is replaced and the step replayed: finishing is
// idempotent, and a claim whose reply was lost is found again as this slot's in-flight job.
// It returns the claimed job, or nil when there is none (or claim is false). The error is
// non-nil only when it gave up: Redis unreachable after a stop was asked for, or a server
// error that is not about the connection.
func (s *slot) cycle(fin *outcome, claim bool) (*claimed, error) {
	ctx := s.w.quitCtx()
	if fin != nil {
		ctx = s.w.finishCtx()
	}
	var last error
	for attempt := 0; ; attempt++ {
		conn, err := s.connect(ctx)
		if err != nil {
			return nil, err
		}
		args, tail := s.cycleArgs(s.args, fin, claim)
		s.args = args
		if err := cycleScript.SendHash(conn, args...); err != nil {
			s.replyFailed(err)
			continue
		}
		replies, err := redis.Values(conn.Do(""))
		if err != nil {
			s.replyFailed(err)
			continue
		}
		if s.pendingStart {
			s.pendingStart = false
			if e, ok := replies[0].(redis.Error); ok {
				s.noteScriptError(e)
				s.log.Debug().Err(e).Msg("start")
			}
			replies = replies[1:]
		}
		if e, ok := replies[0].(redis.Error); ok {
			s.noteScriptError(e)
			last = e
			if isNoScript(e) && attempt < 3 {
				continue
			}
			// A server error (read-only replica, OOM, a script error): pause so it
			// cannot spin, then retry while allowed.
			s.w.link.fail(e)
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("resque: %w", last)
			case <-time.After(time.Second):
			}
			continue
		}
		vals, err := redis.Values(replies[0], nil)
		if err != nil || len(vals) != 4 {
			return nil, fmt.Errorf("resque: unexpected cycle reply %v", replies[0])
		}
		if fin != nil {
			if n, _ := redis.Int(vals[0], nil); n != 1 {
				s.log.Warn().Msg("the job's in-flight record was settled by someone else meanwhile (pruned as dead?); outcome not recorded twice")
			}
			s.setInflight(nil)
			fin = nil
		}
		if !claim {
			return nil, nil
		}
		code, _ := redis.Int(vals[1], nil)
		switch {
		case code == -3:
			return nil, nil
		case code == -1: // QUEUE=* and the queues set changed: rebuild the list, again
			members, err := redis.Strings(vals[2], nil)
			if err != nil {
				return nil, err
			}
			sortQueuesPHP(members)
			s.setQueues(members)
			s.wildcard = true
			continue
		case code == -2: // a job is in flight that this slot does not know: adopt it
			c, err := s.adopt(conn)
			if err != nil {
				s.replyFailed(err)
				continue
			}
			return c, nil
		case code >= 0 && code < len(s.queues):
			payload, err := redis.Bytes(vals[2], nil)
			if err != nil {
				return nil, err
			}
			rec := make([]byte, 0, len(s.heads[code])+len(tail)+len(payload)+1)
			rec = append(append(append(append(rec, s.heads[code]...), tail...), payload...), '}')
			started, _ := redis.Int(vals[3], nil)
			return &claimed{queue: s.queues[code], payload: payload, sha: sha1hex(rec), started: started == 1}, nil
		}
		return nil, fmt.Errorf("resque: unexpected cycle reply %v", vals)
	}
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
	if s.w.watch != nil {
		s.w.watch.wait(s.claimKeys, s.w.cfg.Interval)
		return
	}
	t := time.NewTimer(s.w.cfg.Interval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.w.quitCh:
	}
}

// process performs c and records its outcome; it returns the next job when one was claimed
// in the same round trip.
func (s *slot) process(c *claimed) *claimed {
	s.setInflight(c)
	job, perr := decodePayload(c.queue, c.payload)
	job.Worker = s.id
	if perr == nil && job.ID != "" && !c.started {
		s.sendStart(job)
	}
	started := time.Now()
	var err error = perr
	if perr == nil {
		err = s.perform(c, job)
	}
	s.mu.Lock()
	abandoned := s.abandoned
	s.abandoned = false
	s.mu.Unlock()
	if abandoned {
		s.setInflight(nil) // abandon recorded it
		s.log.Warn().Str("class", job.Class).Str("job_id", job.ID).Msg("an abandoned job returned at last; its outcome was already recorded as a dirty exit")
		return nil
	}
	fin := s.outcome(c, job, err, time.Since(started))
	next, cerr := s.cycle(fin, !s.w.quitting() && s.w.pauseGate() == nil)
	if cerr != nil && !s.settled() {
		s.log.Error().Err(cerr).Msg("job result not written: redis unreachable while stopping; the job stays in flight and the next prune records it")
	}
	return next
}

// sendStart sends the running status (and v1.3.6's pid key) without waiting for the reply.
func (s *slot) sendStart(job *Job) {
	if s.conn == nil || s.conn.Err() != nil {
		return
	}
	head, tail, splice := statusUpdate(s.w.cfg.Dialect, StatusRunning, s.w.cfg.now(), nil)
	err := startScript.SendHash(s.conn, s.w.keys.JobStatus(job.ID, job.Prefix), s.w.keys.JobPID(job.ID), head, tail, boolFlag(splice), s.pid)
	if err == nil {
		err = s.conn.Flush()
	}
	if err != nil {
		s.replyFailed(err)
		return
	}
	s.pendingStart = true
}

// perform runs the handler. It runs in the slot's goroutine: a goroutine per job would cost
// a scheduler wake-up per job. A job that ignores its cancelled context cannot be stopped in
// Go, so kill arms a watchdog that, after KillTimeout, records the job as a dirty exit on its
// own connection and lets the worker go on without this slot (see abandon).
func (s *slot) perform(c *claimed, job *Job) (err error) {
	ctx, cancel := context.WithCancelCause(s.w.ctx)
	s.mu.Lock()
	s.jobGen++
	s.jobCancel = cancel
	s.running, s.runningJob = c, job
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.jobCancel = nil
		if s.watchdog != nil {
			s.watchdog.Stop()
			s.watchdog = nil
		}
		s.mu.Unlock()
		cancel(nil)
	}()
	jl := s.log.With().Str("queue", job.Queue).Str("class", job.Class).Str("job_id", job.ID).Logger()
	jl.Debug().Msg("starting work")
	ctx = jl.WithContext(ctx)
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
		err = killedError(ctx, err)
	}()
	return s.w.cfg.Handler.Perform(ctx, job)
}

// killedError maps the error of a job whose context was cancelled to php-resque's record
// of a killed child: Resque_Job_DirtyExitException.
func killedError(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var je *JobError
	if errors.As(err, &je) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return DirtyExit("Job exited abnormally: "+context.Cause(ctx).Error(), err)
	}
	return err
}

func (s *slot) kill(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobCancel == nil {
		return
	}
	s.jobCancel(cause)
	if s.watchdog == nil {
		gen := s.jobGen
		s.watchdog = time.AfterFunc(s.w.cfg.KillTimeout, func() { s.abandon(gen, cause) })
	}
}

// abandon settles a killed job that did not return within KillTimeout: it is recorded as a
// dirty exit, as php-resque records a child it had to SIGKILL, on a connection of its own.
// The slot's goroutine stays in the handler until it returns; if the worker is stopping, Run
// no longer waits for it.
func (s *slot) abandon(gen uint64, cause error) {
	s.mu.Lock()
	if s.jobGen != gen || s.jobCancel == nil {
		s.mu.Unlock()
		return // the job returned meanwhile
	}
	c, job := s.running, s.runningJob
	s.abandoned = true
	s.mu.Unlock()
	d := s.w.cfg.KillTimeout
	s.log.Error().Str("class", job.Class).Str("job_id", job.ID).Msgf("job did not return within %v of being killed; recording it as a dirty exit and leaving it behind", d)
	fin := s.outcome(c, job, DirtyExit(fmt.Sprintf("Job exited abnormally: %v (it did not stop within %v)", cause, d), cause), 0)
	ctx, stop := context.WithTimeout(context.Background(), stopWriteTimeout)
	defer stop()
	err := s.w.link.retry(ctx, func() error {
		conn, err := s.w.pool.GetContext(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		args, _ := s.cycleArgs(nil, fin, false)
		_, err = cycleScript.Do(conn, args...)
		return err
	})
	if err != nil {
		s.log.Error().Err(err).Msg("the abandoned job's outcome was not written; it stays in flight for the next prune")
	}
	if s.w.quitting() {
		s.markGone()
	}
}

func (s *slot) markGone() { s.goneOnce.Do(func() { close(s.gone) }) }

// outcome turns the result of job into what finishing writes: the failure record
// (Resque_Failure_Redis), the final status packet (complete, or failed with EXPIRE 86400),
// and the v1.3.6 pid key removal.
func (s *slot) outcome(c *claimed, job *Job, err error, took time.Duration) *outcome {
	w := s.w
	now := w.cfg.now()
	d := w.cfg.Dialect
	status := StatusComplete
	var failure []byte
	log := s.log.With().Str("queue", c.queue).Str("class", job.Class).Str("job_id", job.ID).Dur("took", took).Logger()
	switch {
	case err == nil:
		log.Debug().Msg("done")
	case errors.Is(err, ErrDontPerform):
		if !job.hasResult {
			job.SetResult(false) // v1.3.6 writes result false for DontPerform (golden 13)
		}
		log.Debug().Msg("not performed (don't perform)")
	default:
		status = StatusFailed
		je := jobErrorOf(err)
		var ferr error
		failure, ferr = failureRecord(d, now.In(w.cfg.Location), c.payload, je, s.id, c.queue)
		if ferr != nil {
			je = &JobError{Exception: ExceptionDefault, Message: "failure could not be encoded: " + ferr.Error()}
			failure, _ = failureRecord(d, now.In(w.cfg.Location), c.payload, je, s.id, c.queue)
		}
		log.Warn().Str("exception", je.Exception).Msg(je.Message)
	}

	var head, tail string
	splice, delPID := "0", "0"
	if job.ID != "" {
		var result []byte
		if status == StatusComplete && job.hasResult {
			r, rerr := phpjson.Encode(nil, job.result)
			if rerr != nil {
				log.Warn().Err(rerr).Msg("job result cannot be encoded as PHP JSON; storing null")
				r = nil
			}
			result = r
		}
		var sp bool
		head, tail, sp = statusUpdate(d, status, now, result)
		if sp {
			splice = "1"
		}
		if d == DialectPHPResque136 {
			delPID = "1"
		}
	}
	return &outcome{
		sha: c.sha, failure: string(failure), head: head, tail: tail, splice: splice, delPID: delPID,
		statusKey: w.keys.JobStatus(job.ID, job.Prefix), pidKey: w.keys.JobPID(job.ID),
	}
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
		if err := loadScripts(c); err != nil {
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
	s.dropConn()
}
