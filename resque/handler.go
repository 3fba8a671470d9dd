package resque

import (
	"context"
	"fmt"
	"strings"
)

// A Handler performs jobs of one PHP class, the way a php-resque job class's perform()
// does. Handlers are shaped like net/http's: a Mux routes by class name, HandlerFunc adapts
// a plain function.
//
// Perform returns nil when the job succeeded. It returns ErrDontPerform (or an error
// wrapping it) to skip the job without failing it. Any other error fails the job: a
// *JobError in the chain decides the recorded exception class, message and backtrace;
// another error is recorded as "Exception" with its text. A panic is recovered and
// recorded as "Error" with the Go stack as backtrace.
//
// ctx is cancelled when the job must stop: the worker was told to kill the job (SIGUSR1)
// or to stop at once (SIGTERM/SIGINT). The job's logger is zerolog.Ctx(ctx). To give the
// v1.3.6 status its "result", call job.SetResult.
type Handler interface {
	Perform(ctx context.Context, job *Job) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, job *Job) error

// Perform calls f(ctx, job).
func (f HandlerFunc) Perform(ctx context.Context, job *Job) error { return f(ctx, job) }

// Mux routes jobs to handlers by PHP class name, with a fallback for classes that have no
// Go handler yet (the PHP bridge: compat.NewPHP).
//
// Class names match the way PHP resolves them: case-insensitively and with or without a
// leading backslash, so `\App\Jobs\SendMail` and `app\jobs\sendmail` reach the handler of
// `App\Jobs\SendMail`.
type Mux struct {
	handlers map[string]Handler
	names    []string
	fallback Handler
	retries  map[string]Retry     // SetRetry, by classKey
	routes   map[string]routeRule // SetRoute, by classKey
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: make(map[string]Handler)} }

// classKey is the name PHP looks a class up by: without a leading backslash, lower-cased
// the way zend_str_tolower does it, ASCII letters only. strings.ToLower would also fold
// Unicode letters (the Kelvin sign K becomes k), matching classes PHP keeps apart.
func classKey(class string) string {
	class = strings.TrimPrefix(class, `\`)
	for i := 0; i < len(class); i++ {
		if c := class[i]; 'A' <= c && c <= 'Z' {
			b := []byte(class)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return class
}

// Handle registers h for class. It panics when class is empty, h is nil, or class already
// has a handler: these are programming errors found at start-up, as with http.ServeMux.
func (m *Mux) Handle(class string, h Handler) {
	if class == "" || h == nil {
		panic("resque: Mux.Handle needs a class name and a handler")
	}
	k := classKey(class)
	if _, dup := m.handlers[k]; dup {
		panic(fmt.Sprintf("resque: Mux.Handle: class %q registered twice", class))
	}
	m.handlers[k] = h
	m.names = append(m.names, class)
}

// HandleFunc registers f for class; see Handle.
func (m *Mux) HandleFunc(class string, f func(ctx context.Context, job *Job) error) {
	m.Handle(class, HandlerFunc(f))
}

// Fallback sets the handler for classes without their own handler.
func (m *Mux) Fallback(h Handler) { m.fallback = h }

// FallbackHandler returns the handler set with Fallback, or nil.
func (m *Mux) FallbackHandler() Handler { return m.fallback }

// Classes returns the class names registered with Handle, in registration order.
func (m *Mux) Classes() []string { return append([]string(nil), m.names...) }

// Handler returns the handler for class: its own, else the fallback. ok is false when
// there is neither.
func (m *Mux) Handler(class string) (h Handler, ok bool) {
	if h, ok := m.handlers[classKey(class)]; ok {
		return h, true
	}
	if m.fallback != nil {
		return m.fallback, true
	}
	return nil, false
}

// Perform dispatches job to its handler. A worker decides first, for a class with both a Go
// handler and a fallback, which of the two runs the job (see Mux.SetRoute); Perform follows
// that decision. A class with no handler and no fallback fails as
// php-resque fails it: Resque_Exception "Could not find job class X." (golden 15).
func (m *Mux) Perform(ctx context.Context, job *Job) error {
	if job.impl == ImplPHP && m.fallback != nil {
		return m.fallback.Perform(ctx, job)
	}
	h, ok := m.Handler(job.Class)
	if !ok {
		return &JobError{
			Exception: ExceptionNotFound,
			Message:   "Could not find job class " + job.Class + ".",
			Backtrace: []string{"#0 goresque: no Go handler and no PHP fallback for " + job.Class, "#1 {main}"},
			Err:       ErrNoHandler,
		}
	}
	return h.Perform(ctx, job)
}
