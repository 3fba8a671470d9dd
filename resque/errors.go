package resque

import (
	"errors"
)

// Exception names goresque writes into a failure record's "exception" field. The php-resque
// ones are what PHP tooling and resque-web already group and retry by.
const (
	// ExceptionDefault is recorded for a plain Go error, like a PHP job's `throw new Exception`.
	ExceptionDefault = "Exception"
	// ExceptionPanic is recorded for a recovered panic: the Go counterpart of PHP's Error,
	// which resque/php-resque v1.3.6 records under that class name.
	ExceptionPanic = "Error"
	// ExceptionDirtyExit is php-resque's record of a job whose process died or was killed
	// (Resque_Job_DirtyExitException); Ruby resque writes it for a dead worker's job too.
	ExceptionDirtyExit = "Resque_Job_DirtyExitException"
	// ExceptionNotFound is php-resque's record of a class no worker can load:
	// Resque_Exception "Could not find job class X."
	ExceptionNotFound = "Resque_Exception"
	// ExceptionInvalidPayload is goresque's record of a queue item that is not a job
	// payload at all (not JSON, no class, args not an array). php-resque has none: it
	// records such items as Resque_Exception with a null payload, losing the bytes.
	ExceptionInvalidPayload = "Goresque_InvalidPayloadException"
)

// ErrDontPerform is returned by a handler to skip the job without failing it, as PHP's
// Resque_Job_DontPerform thrown from setUp or beforePerform does: the job counts as
// processed, its status becomes complete with result false (golden 13), nothing goes to
// failed.
var ErrDontPerform = errors.New("resque: don't perform")

// ErrNoHandler is wrapped by the error a Mux returns for a class without handler and
// without fallback.
var ErrNoHandler = errors.New("resque: no handler for class")

// JobError is a job failure as php-resque records it: the exception class, its message
// and the backtrace lines of the `failed` entry. A handler returns one (or wraps one) to
// choose the exception name; the PHP bridge fills it from the PHP exception.
type JobError struct {
	Exception string   // PHP exception class name, e.g. "Exception" or `App\PaymentFailed`
	Message   string   // the "error" field
	Backtrace []string // lines of the "backtrace" array, e.g. "#0 {main}"
	Err       error    // the underlying error, if any
}

func (e *JobError) Error() string {
	if e.Message == "" {
		return e.Exception
	}
	return e.Exception + ": " + e.Message
}

func (e *JobError) Unwrap() error { return e.Err }

// DirtyExit returns the failure php-resque records when a job's process ends without a
// result: Resque_Job_DirtyExitException with message msg (for example "Job exited with exit
// code 255" or "Job exited abnormally").
func DirtyExit(msg string, cause error) *JobError {
	return &JobError{Exception: ExceptionDirtyExit, Message: msg, Backtrace: []string{"#0 {main}"}, Err: cause}
}

// jobErrorOf turns whatever a handler returned into the failure record's fields.
// A *JobError anywhere in the chain is used as is. Any other error is recorded as
// ExceptionDefault with the error's text, and the chain of wrapped errors as backtrace
// lines, ending in "{main}" as PHP's getTraceAsString does.
func jobErrorOf(err error) *JobError {
	var je *JobError
	if errors.As(err, &je) {
		if je.Exception == "" {
			c := *je
			c.Exception = ExceptionDefault
			return &c
		}
		return je
	}
	var pe *PayloadError
	if errors.As(err, &pe) {
		return &JobError{Exception: ExceptionInvalidPayload, Message: pe.message(), Backtrace: []string{"#0 {main}"}, Err: err}
	}
	var bt []string
	n := 0
	for e := err; e != nil; e = errors.Unwrap(e) {
		bt = append(bt, "#"+itoa(n)+" "+typeName(e)+": "+e.Error())
		n++
		if n >= 20 {
			break
		}
	}
	bt = append(bt, "#"+itoa(n)+" {main}")
	return &JobError{Exception: ExceptionDefault, Message: err.Error(), Backtrace: bt, Err: err}
}
