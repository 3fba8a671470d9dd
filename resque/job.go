package resque

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Job is one job taken from a queue, as a php-resque job class sees it: the class, the
// queue, and $this->args, which is args[0] of the payload. The exact payload bytes are kept
// (Payload) and written back unchanged wherever php-resque embeds the payload.
type Job struct {
	// Queue is the queue the job was taken from.
	Queue string
	// Class is the PHP class name from the payload, e.g. `App\Jobs\SendMail`.
	Class string
	// ID is the payload's id: 32 hex characters for PHP-pushed jobs, "" for Ruby- or
	// goworker-pushed ones, which carry none.
	ID string
	// Prefix is the v1.3.6 status prefix from the payload ("" when absent).
	Prefix string
	// QueueTime is when the job was enqueued (payload queue_time); zero when absent.
	QueueTime time.Time
	// Worker is the id of the worker performing the job.
	Worker string

	raw    []byte
	args   []json.RawMessage
	argMap map[string]any
	argErr error
	routed bool // the worker chose impl by a routing rule (the class has both sides)

	result    any
	hasResult bool
	attempt   int    // goresque_attempt of a retried job's payload; 0 for the first
	impl      string // ImplGo or ImplPHP once known (Worker.implementation)
}

// Implementation returns which side performed the job, ImplGo or ImplPHP; "" before the
// worker has performed it. Observers read it in JobFinished.
func (j *Job) Implementation() string { return j.impl }

// Attempt returns which attempt at the job this is: 1 for the first, 2 for the first
// retry (see Retry).
func (j *Job) Attempt() int { return max(j.attempt, 1) }

// NewJob builds a Job from raw payload bytes, as a worker does after taking them from
// queue. It is useful to test handlers; an invalid payload gives a *PayloadError.
func NewJob(queue string, payload []byte) (*Job, error) {
	return decodePayload(queue, payload)
}

// Payload returns the payload exactly as it was taken from the queue. Callers must not
// modify it.
func (j *Job) Payload() []byte { return j.raw }

// Arg returns args[0] as raw JSON, the value php-resque assigns to $job->args; "null" when
// the payload has no arguments.
func (j *Job) Arg() json.RawMessage {
	if len(j.args) == 0 {
		return json.RawMessage("null")
	}
	return j.args[0]
}

// Args returns every element of the payload's args array. PHP jobs see only the first;
// Ruby-pushed jobs use positional arguments.
func (j *Job) Args() []json.RawMessage { return j.args }

// DecodeArgs decodes args[0] into v, with numbers as json.Number when v holds interfaces.
func (j *Job) DecodeArgs(v any) error {
	dec := json.NewDecoder(bytes.NewReader(j.Arg()))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("resque: decode args of %s: %w", j.Class, err)
	}
	return nil
}

// ArgMap returns args[0] as a map when it is a JSON object (PHP associative array), else
// nil. Numbers are json.Number so large integers survive.
func (j *Job) ArgMap() map[string]any {
	if j.argMap == nil && len(j.args) > 0 && len(j.args[0]) > 0 && j.args[0][0] == '{' {
		var m map[string]any
		if j.DecodeArgs(&m) == nil {
			j.argMap = m
		}
	}
	return j.argMap
}

// Value returns args[0][key] and whether it is present.
func (j *Job) Value(key string) (any, bool) {
	v, ok := j.ArgMap()[key]
	return v, ok
}

// String returns args[0][key] as a string. Numbers and booleans are converted the way PHP
// would print them. A missing key or another type records an error for ArgErr and
// returns "".
func (j *Job) String(key string) string {
	v, ok := j.Value(key)
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "1"
		}
		return ""
	}
	j.argError(key, "a string", v, ok)
	return ""
}

// Int returns args[0][key] as an int64, accepting integers and numeric strings as PHP's
// (int) cast of a numeric string does. Otherwise it records an error for ArgErr.
func (j *Job) Int(key string) int64 {
	v, ok := j.Value(key)
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
	}
	j.argError(key, "an integer", v, ok)
	return 0
}

// Float returns args[0][key] as a float64 (numbers and numeric strings).
func (j *Job) Float(key string) float64 {
	v, ok := j.Value(key)
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f
		}
	}
	j.argError(key, "a number", v, ok)
	return 0
}

// Bool returns args[0][key] as a bool. JSON booleans are accepted, and so are the values
// PHP code commonly sends for flags: 0 and 1, "0", "1" and "".
func (j *Job) Bool(key string) bool {
	v, ok := j.Value(key)
	switch x := v.(type) {
	case bool:
		return x
	case json.Number:
		switch x.String() {
		case "0":
			return false
		case "1":
			return true
		}
	case string:
		switch x {
		case "", "0":
			return false
		case "1":
			return true
		}
	}
	j.argError(key, "a boolean", v, ok)
	return false
}

// ArgErr returns the first error recorded by String, Int, Float or Bool, so a handler can
// read all its arguments and check once, as with bufio.Scanner.Err.
func (j *Job) ArgErr() error { return j.argErr }

func (j *Job) argError(key, want string, v any, present bool) {
	if j.argErr != nil {
		return
	}
	if !present {
		j.argErr = fmt.Errorf("resque: %s: argument %q is missing", j.Class, key)
		return
	}
	j.argErr = fmt.Errorf("resque: %s: argument %q is %T, want %s", j.Class, key, v, want)
}

// SetResult sets the job's result: what perform() returns in PHP. resque/php-resque
// v1.3.6 stores it in the status packet's "result" when the job completes; it is encoded
// as PHP's json_encode would encode it.
func (j *Job) SetResult(v any) {
	j.result = v
	j.hasResult = true
}

// Result returns the value given to SetResult.
func (j *Job) Result() (any, bool) { return j.result, j.hasResult }
