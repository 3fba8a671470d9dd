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

	stopCtx    context.Context // done once a stop was asked for (stop)
	stopCancel context.CancelFunc
	// jobs is the parent of every job's context: cancelled (with the cause) when the
	// worker must stop at once (stopNow), or when Run returns.
	jobs       context.Context
	jobsCancel context.CancelCauseFunc
	// finish is done stopWriteTimeout after a stop was asked for: the bound on writing
	// outcomes while Redis is unreachable.
	finish       context.Context
	finishCancel context.CancelFunc
}

// stopWriteTimeout bounds how long a stopping worker keeps retrying to record results
// while Redis is unreachable. What it cannot write stays in flight for the next prune.
const stopWriteTimeout = 10 * time.Second

func newLifecycle() *lifecycle {
	l := &lifecycle{quitCh: make(chan struct{}), resumeCh: make(chan struct{})}
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
	time.AfterFunc(stopWriteTimeout, l.finishCancel)
	return true
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

// pause reports whether the worker was not paused before.
func (l *lifecycle) pause() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused {
		return false
	}
	l.paused = true
	l.resumeCh = make(chan struct{})
	return true
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

// mayClaim reports whether the worker may take another job now.
func (l *lifecycle) mayClaim() bool { return !l.stopping() && l.gate() == nil }
