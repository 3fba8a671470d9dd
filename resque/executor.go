package resque

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/goresque/goresque/internal/phpjson"
	"github.com/rs/zerolog"
)

// claimed is a job cycleScript moved into a slot's in-flight record.
type claimed struct {
	queue   string
	payload []byte
	sha     string // SHA1 of the in-flight record, the guard of the finishing step
}

// An executor performs the jobs its slot claims, one at a time, and kills them: it is the
// Go counterpart of php-resque's forked child and of the parent's kill of it (SIGUSR1,
// SIGTERM). kill may be called from any goroutine; everything else runs in the slot's.
type executor struct {
	w        *Worker
	id       string
	log      zerolog.Logger
	fixed    [8]any // the slot's cycleScript KEYS[1..8], for abandon
	markGone func()
	// dropStart discards the job's start if it still waits to be sent (deferStart): abandon
	// records the outcome, after which "running" must not be written.
	dropStart func()

	mu        sync.Mutex
	held      *claimed                // claimed in Redis and not yet finished there
	job       *Job                    // held's job while its handler runs
	cancel    context.CancelCauseFunc // of the running job
	gen       uint64                  // counts jobs, so a late watchdog knows its job is gone
	watchdog  *time.Timer             // armed by kill
	abandoned bool                    // the watchdog recorded the running job's outcome
	// pendingKill is a kill that arrived while a claim was on its way or after held was
	// claimed and before its handler started: perform applies it, so SIGTERM or SIGUSR1 in
	// that gap is not lost (worker:<id> already shows the job as running).
	pendingKill error
	claiming    bool // a claim is on its way; a kill now is for the job it brings
	ran         bool // held's handler has returned: a kill now is for no job
}

// beginClaim and endClaim bracket a claim; hold ends it too.
func (e *executor) beginClaim() {
	e.mu.Lock()
	e.claiming = true
	e.mu.Unlock()
}

func (e *executor) endClaim() {
	e.mu.Lock()
	if e.claiming {
		e.claiming = false
		e.pendingKill = nil
	}
	e.mu.Unlock()
}

// hold records c as the slot's in-flight job (nil: none) and ends a claim. A kill that
// came during the claim stays pending for c.
func (e *executor) hold(c *claimed) {
	e.mu.Lock()
	e.held = c
	e.claiming = false
	e.ran = false
	if c == nil {
		e.pendingKill = nil
	}
	e.mu.Unlock()
}

// settled reports whether the slot holds no job whose outcome is still to be written.
func (e *executor) settled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.held == nil || e.abandoned
}

// run performs job (perr: the payload could not be decoded) and returns the outcome to
// record, or nil when the watchdog already recorded it (abandon).
func (e *executor) run(c *claimed, job *Job, perr error) *outcome {
	started := time.Now()
	obs := e.w.cfg.Observer
	if obs != nil {
		obs.JobStarted(job, started)
	}
	err := perr
	if perr == nil {
		err = e.perform(c, job)
	} else {
		e.mu.Lock()
		e.ran = true
		e.mu.Unlock()
	}
	e.mu.Lock()
	abandoned := e.abandoned
	e.abandoned = false
	e.mu.Unlock()
	took := time.Since(started)
	failed := abandoned || err != nil && !errors.Is(err, ErrDontPerform)
	if job.impl == "" {
		job.impl = e.w.implementation(job)
	}
	if e.w.stats != nil && job.Class != "" { // a payload without a class has no class to count
		e.w.stats.record(job.Class, job.impl, took, failed, started.Add(took))
	}
	if obs != nil {
		status := StatusComplete
		if failed {
			status = StatusFailed
		}
		obs.JobFinished(job, status, took)
	}
	if abandoned {
		e.hold(nil) // abandon recorded it
		e.log.Warn().Str("class", job.Class).Str("job_id", job.ID).Msg("an abandoned job returned at last; its outcome was already recorded as a dirty exit")
		return nil
	}
	return e.outcome(c, job, err, took)
}

// perform runs the handler. It runs in the slot's goroutine: a goroutine per job would cost
// a scheduler wake-up per job. A job that ignores its cancelled context cannot be stopped in
// Go, so kill arms a watchdog that, after KillTimeout, records the job as a dirty exit on its
// own connection and lets the worker go on without this slot (see abandon).
func (e *executor) perform(c *claimed, job *Job) (err error) {
	ctx, cancel := context.WithCancelCause(e.w.life.jobs)
	e.mu.Lock()
	e.gen++
	e.cancel = cancel
	e.job = job
	// A kill that came between the claim and now, or a stop at once (whose cancelled
	// context this job inherits): cancel the job and arm the watchdog, as kill would have.
	pending := e.pendingKill
	e.pendingKill = nil
	if pending == nil && e.w.life.jobs.Err() != nil {
		pending = context.Cause(e.w.life.jobs)
	}
	if pending != nil {
		e.killLocked(pending)
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.cancel = nil
		e.job = nil
		e.ran = true
		if e.watchdog != nil {
			e.watchdog.Stop()
			e.watchdog = nil
		}
		e.mu.Unlock()
		cancel(nil)
	}()
	jl := e.log.Hook(jobFields{job})
	jl.Debug().Msg("starting work")
	ctx = jl.WithContext(ctx)
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
		err = killedError(ctx, err)
	}()
	return e.w.cfg.Handler.Perform(ctx, job)
}

// jobFields adds a job's queue, class, id and implementation to each line its logger
// (zerolog.Ctx of the job's context) writes. A hook rather than Logger.With: With copies
// the logger's context for every job, a fifth of the bytes a busy worker allocated, though
// at the default level most jobs log nothing.
type jobFields struct{ job *Job }

func (h jobFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("queue", h.job.Queue).Str("class", h.job.Class).Str("job_id", h.job.ID).Str("impl", h.job.impl)
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

// kill cancels the running job and arms the watchdog. A job claimed but not started yet is
// killed as soon as it starts.
func (e *executor) kill(cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel == nil {
		if e.claiming || e.held != nil && !e.ran {
			e.pendingKill = cause
		}
		return
	}
	e.killLocked(cause)
}

func (e *executor) killLocked(cause error) {
	e.cancel(cause)
	if e.watchdog == nil {
		gen := e.gen
		e.watchdog = time.AfterFunc(e.w.cfg.KillTimeout, func() { e.abandon(gen, cause) })
	}
}

// abandon settles a killed job that did not return within KillTimeout: it is recorded as a
// dirty exit, as php-resque records a child it had to SIGKILL, on a connection of its own.
// The slot's goroutine stays in the handler until it returns; if the worker is stopping, Run
// no longer waits for it.
func (e *executor) abandon(gen uint64, cause error) {
	e.mu.Lock()
	if e.gen != gen || e.cancel == nil {
		e.mu.Unlock()
		return // the job returned meanwhile
	}
	c, job := e.held, e.job
	e.abandoned = true
	e.mu.Unlock()
	e.dropStart()
	d := e.w.cfg.KillTimeout
	e.log.Error().Str("class", job.Class).Str("job_id", job.ID).Msgf("job did not return within %v of being killed; recording it as a dirty exit and leaving it behind", d)
	fin := e.outcome(c, job, DirtyExit(fmt.Sprintf("Job exited abnormally: %v (it did not stop within %v)", cause, d), cause), 0)
	ctx, stop := context.WithTimeout(context.Background(), e.w.life.budgetLen)
	defer stop()
	args := cycleArgs{fixed: e.fixed, id: e.id, fin: fin, sched: e.w.keys.DelayedSchedule()}
	err := e.w.link.retry(ctx, func() error {
		conn, err := e.w.pool.GetContext(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = cycleScript.Do(ctxConn{conn, ctx}, args.appendTo(nil)...)
		return err
	})
	if err != nil {
		e.log.Error().Err(err).Msg("the abandoned job's outcome was not written; it stays in flight for the next prune")
	}
	if e.w.life.stopping() {
		e.markGone()
	}
}

// outcome turns the result of job into what finishing writes: the failure record
// (Resque_Failure_Redis), the final status packet (complete, or failed with EXPIRE 86400),
// and the v1.3.6 pid key removal.
func (e *executor) outcome(c *claimed, job *Job, err error, took time.Duration) *outcome {
	w := e.w
	now := w.cfg.now()
	d := w.cfg.Dialect
	status := StatusComplete
	var failure []byte
	var retry []byte
	var retryAt time.Time
	// The job's fields are added only when a line can be written: a succeeding job at the
	// default level logs nothing, and building the context costs it allocations.
	log := e.log
	if err != nil || e.log.GetLevel() <= zerolog.DebugLevel && zerolog.GlobalLevel() <= zerolog.DebugLevel {
		log = e.log.Hook(jobFields{job}).With().Stringer("took", took.Round(time.Microsecond)).Logger()
	}
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
		failure, ferr = failureRecord(d, now.In(w.cfg.Location), c.payload, je, e.id, c.queue)
		if ferr != nil {
			je = &JobError{Exception: ExceptionDefault, Message: "failure could not be encoded: " + ferr.Error()}
			failure, _ = failureRecord(d, now.In(w.cfg.Location), c.payload, je, e.id, c.queue)
		}
		failure = withImplField(failure, job)
		if item, at, ok := e.retry(job, err, je, now); ok {
			retry, retryAt = item, at
			status = StatusWaiting
			log.Warn().Str("exception", je.Exception).Int("attempt", job.Attempt()).Time("retry_at", at).Msg(je.Message)
			break
		}
		log.Warn().Str("exception", je.Exception).Int("attempt", job.Attempt()).Msg(je.Message)
	}

	o := &outcome{sha: c.sha, failure: string(failure), splice: "0", delPID: "0",
		statusKey: w.keys.JobStatus(job.ID, job.Prefix), pidKey: w.keys.JobPID(job.ID)}
	if retry != nil {
		ts := strconv.FormatInt(retryAt.Unix(), 10)
		o.retryItem, o.retryAt = string(retry), ts
		o.delayedKey, o.tsKey = w.keys.Delayed(ts), w.keys.DelayedTimestamps(o.retryItem)
	}
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
		o.head, o.tail, sp = statusUpdate(d, status, now, result)
		o.head, o.tail = withAttempt(o.head, o.tail, job.Attempt())
		o.head, o.tail = withImpl(o.head, o.tail, job)
		if status == StatusWaiting {
			o.head, o.tail = withAttempt(string(statusPacketWaiting(d, now)), "", job.Attempt()+1)
			sp = false
		}
		o.splice = boolFlag(sp)
		if d == DialectPHPResque136 {
			o.delPID = "1"
		}
	}
	return o
}

// retry decides whether the failed job is tried again (its class has a Retry with
// attempts left that accepts je) and returns the delayed item and when it is due. It also
// builds the failure record the script writes instead when the delayed keys are broken.
// A payload that could not be decoded is never retried: it would fail the same way.
func (e *executor) retry(job *Job, err error, je *JobError, now time.Time) ([]byte, time.Time, bool) {
	rp, ok := e.w.cfg.Handler.(retryPolicer)
	var pe *PayloadError
	if !ok || errors.As(err, &pe) {
		return nil, time.Time{}, false
	}
	policy, ok := rp.RetryPolicy(job.Class)
	if !ok {
		return nil, time.Time{}, false
	}
	wait, ok := policy.next(job.Attempt(), je)
	if !ok {
		return nil, time.Time{}, false
	}
	item, ierr := retryItem(job, job.Attempt()+1)
	if ierr != nil {
		e.log.Warn().Err(ierr).Str("class", job.Class).Msg("retry item cannot be encoded; the job is recorded as failed")
		return nil, time.Time{}, false
	}
	// Delayed jobs are due in whole seconds: round up so the wait is never shorter.
	at := now.Add(wait + time.Second - 1).Truncate(time.Second)
	return item, at, true
}
