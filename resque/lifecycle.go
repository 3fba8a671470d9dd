package resque

import (
	"context"
	"sync"
	"time"
)

// lifecycle is where a Worker stands between starting and stopping, in one place: the
// stop requests (php-resque's QUIT, then TERM/INT), pause (USR2/CONT), and the contexts
// derived from them that the slots wait on. Every method is safe from any goroutine.
type lifecycle struct {
	mu       sync.Mutex
	quit     bool
	quitCh   chan struct{} // closed by stop
	paused   bool
	resumeCh chan struct{} // closed by resume
	// claims counts the claims begun (beginClaim) and not yet answered; pauseWaits is set
	// by a pause that found some, so that "paused" is said only once no job can still be
	// taken by a claim that passed the gate before it.
	claims     int
	pauseWaits bool

	stopCtx    context.Context // done once a stop was asked for (stop)
	stopCancel context.CancelFunc
	// jobs is the parent of every job's context: cancelled (with the cause) when the
	// worker must stop at once (stopNow), or when Run returns.
	jobs       context.Context
	jobsCancel context.CancelCauseFunc
	// finish is the context of every Redis call that records results or unregisters: it is
	// done once the worker is stopping and Redis has not answered any such call for
	// stopWriteTimeout (see begin).
	finish       context.Context
	finishCancel context.CancelFunc
	writes       int         // such calls in progress
	budget       *time.Timer // runs while the stopping worker waits for Redis
	budgetOn     bool
	budgetLen    time.Duration // stopWriteTimeout; shorter in tests
}

// stopWriteTimeout bounds how long a stopping worker waits for an unresponsive Redis
// (down, or hung with its connections open) to record results and unregister. What it
// cannot write stays in flight for the next prune.
const stopWriteTimeout = 10 * time.Second

func newLifecycle() *lifecycle {
	l := &lifecycle{quitCh: make(chan struct{}), resumeCh: make(chan struct{}), budgetLen: stopWriteTimeout}
	l.stopCtx, l.stopCancel = context.WithCancel(context.Background())
	l.jobs, l.jobsCancel = context.WithCancelCause(context.Background())
	l.finish, l.finishCancel = context.WithCancel(context.Background())
	return l
}

// stop records that a stop was asked for; it reports whether this call was the first.
func (l *lifecycle) stop() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.quit {
		return false
	}
	l.quit = true
	close(l.quitCh)
	l.stopCancel()
	if l.writes > 0 {
		l.armBudget()
	}
	return true
}

// begin marks the start of a call that records results or unregisters, and returns its
// context, finish. Before a stop such calls retry for as long as it takes (a job's outcome
// waits for Redis to come back); once stopping, they share one budget: stopWriteTimeout
// without any of them getting an answer ends them all. A graceful stop whose jobs run for
// minutes therefore still has the full budget when they end, and a hung Redis cannot hold
// the stop longer than the budget. end(true) reports an answer.
func (l *lifecycle) begin() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	if l.quit && !l.budgetOn {
		l.armBudget()
	}
	return l.finish
}

func (l *lifecycle) end(answered bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes--
	if !answered || !l.budgetOn || l.finish.Err() != nil {
		return
	}
	if l.writes == 0 {
		l.budget.Stop()
		l.budgetOn = false
	} else {
		l.budget.Reset(l.budgetLen)
	}
}

func (l *lifecycle) armBudget() {
	if l.budget == nil {
		l.budget = time.AfterFunc(l.budgetLen, l.finishCancel)
	} else {
		l.budget.Reset(l.budgetLen)
	}
	l.budgetOn = true
}

// stopNow cancels every job's context with cause; it reports whether this call was the
// first to do so.
func (l *lifecycle) stopNow(cause error) bool {
	first := l.jobs.Err() == nil
	l.jobsCancel(cause)
	return first
}

func (l *lifecycle) stopping() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quit
}

// stopped is closed once a stop was asked for.
func (l *lifecycle) stopped() <-chan struct{} { return l.quitCh }

// pause reports whether the worker was not paused before, and whether claims begun
// before it are still unanswered (php-resque checks its pause flag before each
// reservation; a claim already on its way to Redis may still take a job, which then
// runs, so the pause is announced only once they are answered: endClaim says when).
func (l *lifecycle) pause() (first, waiting bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused {
		return false, false
	}
	l.paused = true
	l.resumeCh = make(chan struct{})
	if l.claims == 0 {
		return true, false
	}
	l.pauseWaits = true
	return true, true
}

// beginClaim reports whether the worker may take another job now (not stopping, not
// paused); when it does, endClaim must follow once the claim was answered.
func (l *lifecycle) beginClaim() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.quit || l.paused {
		return false
	}
	l.claims++
	return true
}

// endClaim reports whether it answered the last claim a pause was waiting for.
func (l *lifecycle) endClaim() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.claims--
	if l.claims == 0 && l.pauseWaits {
		l.pauseWaits = false
		return l.paused
	}
	return false
}

// resume reports whether the worker was paused.
func (l *lifecycle) resume() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.paused {
		return false
	}
	l.paused = false
	close(l.resumeCh)
	return true
}

// gate returns nil when the worker may take jobs, else a channel closed on resume.
func (l *lifecycle) gate() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused && !l.quit {
		return l.resumeCh
	}
	return nil
}
