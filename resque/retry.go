package resque

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/goresque/goresque/internal/phpjson"
)

// Retry is a class's retry policy. php-resque has none (a failed job goes to `failed`
// once); Ruby's resque-retry has one per class, and this follows its shape: a number of
// attempts, a backoff between them, and a test of which exceptions retry.
//
// A retry goes through the delayed queue (delayed_queue_schedule and delayed:<ts>, the
// records ResqueScheduler::enqueueAt writes), so every tool sees it and any scheduler runs
// it. Only the last attempt's failure is recorded in `failed`.
type Retry struct {
	// Attempts is the number of times the job is performed at most, the first included:
	// 5 means the first attempt and up to 4 retries. Below 2 nothing is retried.
	Attempts int
	// Backoff gives the wait before the next attempt after attempt n (from 1) failed;
	// nil means no wait. Delayed jobs are due in whole seconds: the wait is rounded up.
	Backoff Backoff
	// Jitter waits a random time between half the backoff and the whole of it, so jobs
	// failing together do not all come back in the same second.
	Jitter bool
	// RetryOn says whether a failure is retried; nil retries every failure.
	RetryOn func(*JobError) bool
}

// Backoff returns the wait before the attempt after attempt n (from 1).
type Backoff func(n int) time.Duration

// Fixed waits d before every retry.
func Fixed(d time.Duration) Backoff { return func(int) time.Duration { return d } }

// Exponential waits base, then 2·base, 4·base…, at most max (no cap when max <= 0).
func Exponential(base, max time.Duration) Backoff {
	return func(n int) time.Duration {
		d := base
		for i := 1; i < n; i++ {
			if d > time.Duration(1<<62)/2 || (max > 0 && d >= max) {
				break
			}
			d *= 2
		}
		if max > 0 && d > max {
			d = max
		}
		return d
	}
}

// SetRetry gives class a retry policy, whether its handler is its own or the fallback
// (the PHP bridge). Class names match as Handle's do.
func (m *Mux) SetRetry(class string, r Retry) {
	if m.retries == nil {
		m.retries = make(map[string]Retry)
	}
	m.retries[classKey(class)] = r
}

// RetryPolicy returns class's retry policy.
func (m *Mux) RetryPolicy(class string) (Retry, bool) {
	r, ok := m.retries[classKey(class)]
	return r, ok
}

// retryPolicer is what a Config.Handler implements to have its jobs retried (Mux does).
type retryPolicer interface {
	RetryPolicy(class string) (Retry, bool)
}

// next returns the wait before the attempt after attempt n, and whether there is one for
// the failure je.
func (r Retry) next(n int, je *JobError) (time.Duration, bool) {
	if n >= r.Attempts || (r.RetryOn != nil && !r.RetryOn(je)) {
		return 0, false
	}
	var d time.Duration
	if r.Backoff != nil {
		d = max(r.Backoff(n), 0)
	}
	if r.Jitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return d, true
}

// attemptKey is the payload key carrying the attempt number (from 2) of a retried job. It
// is a top-level key php-resque ignores; php-resque-scheduler rebuilds the payload from
// class, queue and args[0] and drops it (the count restarts), goresque's scheduler keeps it.
const attemptKey = "goresque_attempt"

// retryItem is the delayed item of attempt n of the job: the item
// ResqueScheduler::jobToHash writes, {"class":C,"args":A,"queue":Q} (golden 30), followed
// by what goresque's scheduler keeps and php-resque-scheduler drops: the job's id and
// prefix (its status stays tracked) and the attempt number.
func retryItem(job *Job, n int) ([]byte, error) {
	b := []byte(`{"class":`)
	var err error
	if b, err = phpjson.AppendString(b, job.Class); err != nil {
		return nil, fmt.Errorf("class: %w", err)
	}
	b = append(b, `,"args":[`...)
	if len(job.args) == 0 {
		b = append(b, "null"...)
	}
	for i, a := range job.args {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a...)
	}
	b = append(b, `],"queue":`...)
	if b, err = phpjson.AppendString(b, job.Queue); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if job.ID != "" {
		b = append(b, `,"id":`...)
		if b, err = phpjson.AppendString(b, job.ID); err != nil {
			return nil, fmt.Errorf("id: %w", err)
		}
	}
	if job.Prefix != "" {
		b = append(b, `,"prefix":`...)
		if b, err = phpjson.AppendString(b, job.Prefix); err != nil {
			return nil, fmt.Errorf("prefix: %w", err)
		}
	}
	b = append(b, `,"`+attemptKey+`":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '}'), nil
}

// ParseRetries parses GORESQUE_RETRY, the retry policies of classes configured outside
// Go (PHP classes): `Class=N:fixed:D` or `Class=N:exp:BASE[:MAX]`, optionally followed by
// `:jitter`, separated by `;`. N counts every attempt (the first included); durations are
// Go's (10s, 1m30s). Example: `App\Jobs\SendMail=5:exp:10s:1h:jitter;Other=3:fixed:1m`.
func ParseRetries(s string) (map[string]Retry, error) {
	out := make(map[string]Retry)
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		class, spec, ok := strings.Cut(part, "=")
		class = strings.TrimSpace(class)
		if !ok || class == "" {
			return nil, fmt.Errorf("retry %q: want Class=N:fixed:D or Class=N:exp:BASE[:MAX]", part)
		}
		r, err := parseRetry(strings.TrimSpace(spec))
		if err != nil {
			return nil, fmt.Errorf("retry of %s: %w", class, err)
		}
		if _, dup := out[classKey(class)]; dup {
			return nil, fmt.Errorf("retry of %s given twice", class)
		}
		out[classKey(class)] = r
	}
	return out, nil
}

func parseRetry(spec string) (Retry, error) {
	var r Retry
	f := strings.Split(spec, ":")
	if len(f) > 0 && f[len(f)-1] == "jitter" {
		r.Jitter = true
		f = f[:len(f)-1]
	}
	if len(f) < 3 {
		return r, fmt.Errorf("%q: want N:fixed:D or N:exp:BASE[:MAX][:jitter]", spec)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return r, fmt.Errorf("%q: attempts %q is not a whole number from 1", spec, f[0])
	}
	r.Attempts = n
	durs := make([]time.Duration, 0, 2)
	for _, s := range f[2:] {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return r, fmt.Errorf("%q: %q is not a duration such as 10s", spec, s)
		}
		durs = append(durs, d)
	}
	switch {
	case f[1] == "fixed" && len(durs) == 1:
		r.Backoff = Fixed(durs[0])
	case f[1] == "exp" && len(durs) == 1:
		r.Backoff = Exponential(durs[0], 0)
	case f[1] == "exp" && len(durs) == 2:
		r.Backoff = Exponential(durs[0], durs[1])
	default:
		return r, fmt.Errorf("%q: want N:fixed:D or N:exp:BASE[:MAX][:jitter]", spec)
	}
	return r, nil
}
