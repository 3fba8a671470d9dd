package resque

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goresque/goresque/internal/phpjson"
	"github.com/rs/zerolog"
)

// Dialect selects which php-resque's wire format goresque writes. Both dialects share the
// keys; they differ in dates, the payload's "prefix" field and the status packet (see
// ../shared/golden/README.md, "Differences between the dialects"). A worker reads payloads
// of either dialect whatever its own.
type Dialect int

const (
	// DialectPHPResque136 is resque/php-resque v1.3.6, the Packagist release most
	// installations run: dates like date('c'), "prefix" in payloads, status packets with
	// "started" and "result", job:<id>:pid keys. The zero Dialect means this one.
	DialectPHPResque136 Dialect = iota
	// DialectPHPResque1 is chrisboulton/php-resque 1.x: strftime dates
	// ("Thu Nov 26 21:11:39 UTC 2026"), no prefix, status packets {"status","updated"}.
	DialectPHPResque1
)

// ParseDialect accepts "php-resque-136" (also "1.3", "1.3.6", "resque") and
// "php-resque-1" (also "1", "1.2", "chrisboulton").
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "php-resque-136", "136", "1.3", "1.3.6", "resque", "resque/php-resque":
		return DialectPHPResque136, nil
	case "php-resque-1", "1", "1.2", "chrisboulton", "chrisboulton/php-resque":
		return DialectPHPResque1, nil
	}
	return 0, fmt.Errorf("resque: unknown dialect %q (want php-resque-136 or php-resque-1)", s)
}

func (d Dialect) String() string {
	if d == DialectPHPResque1 {
		return "php-resque-1"
	}
	return "php-resque-136"
}

// date formats t the way the dialect writes worker:<id>:started, run_at and failed_at.
func (d Dialect) date(t time.Time) string {
	if d == DialectPHPResque1 {
		return phpjson.DateStrftime(t)
	}
	return phpjson.DateISO8601(t)
}

// DeadJobPolicy says what happens to the in-flight job of a worker found dead.
type DeadJobPolicy int

const (
	// FailDeadJobs records the job in `failed` as Resque_Job_DirtyExitException, as Ruby
	// resque's prune does, so it can be retried from resque-web. The zero value.
	FailDeadJobs DeadJobPolicy = iota
	// RequeueDeadJobs puts the job back at the head of its queue (at-least-once delivery).
	RequeueDeadJobs
)

// ParseDeadJobPolicy accepts "fail" and "requeue".
func ParseDeadJobPolicy(s string) (DeadJobPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "fail", "failed":
		return FailDeadJobs, nil
	case "requeue", "retry":
		return RequeueDeadJobs, nil
	}
	return 0, fmt.Errorf("resque: unknown dead job policy %q (want fail or requeue)", s)
}

func (p DeadJobPolicy) String() string {
	if p == RequeueDeadJobs {
		return "requeue"
	}
	return "fail"
}

// Config configures a Worker. Every field's zero value is usable except Queues and
// Handler, which are required.
type Config struct {
	// Namespace is the key prefix; "" means "resque:" (php-resque's PREFIX).
	Namespace string
	// Queues are the queues to work, highest priority first (php-resque's QUEUE split
	// on ","). "*" alone means every queue in the `queues` set, sorted as PHP sorts it; with
	// more than 32 queues, claims try only those a scan found jobs in (see wildcard.go).
	Queues []string
	// Interval is how long to sleep when every queue is empty, or in Blocking mode how
	// long one blocking wait lasts. Zero means 5s, php-resque's default.
	Interval time.Duration
	// Blocking waits on the queues instead of polling (php-resque's BLOCKING). goresque
	// wakes as soon as a job arrives, without taking the job in the wait, so the claim
	// stays atomic; this needs Redis 6.2 or newer (BLMOVE).
	Blocking bool
	// Concurrency is the number of jobs this process runs at once. Each slot registers as
	// its own worker; slot 0 has php-resque's id hostname:pid:queues, slot n > 0 has
	// hostname_n:pid:queues. Zero means 1.
	Concurrency int
	// Dialect selects the php-resque dialect goresque writes; see Dialect.
	Dialect Dialect
	// Handler performs the jobs, usually a *Mux. Required.
	Handler Handler
	// Logger receives the worker's logs; the zero Logger discards them.
	Logger zerolog.Logger
	// Location is the time zone of the dates goresque writes, like PHP's date.timezone;
	// nil means time.Local.
	Location *time.Location
	// Hostname overrides the host part of worker ids; "" means os.Hostname(), which is
	// what PHP's php_uname('n') returns.
	Hostname string

	// ShutdownTimeout bounds how long Shutdown (SIGQUIT) waits for running jobs before it
	// acts like ShutdownNow. Zero means no bound, as in php-resque.
	ShutdownTimeout time.Duration
	// KillTimeout is how long a job whose context was cancelled (KillJob, ShutdownNow)
	// may take to return before it is recorded as a dirty exit anyway and abandoned.
	// Zero means 10s.
	KillTimeout time.Duration

	// HeartbeatInterval is how often each worker writes its heartbeat into Ruby resque's
	// workers:heartbeat hash. Zero means 60s, Ruby resque's default.
	HeartbeatInterval time.Duration
	// PruneAfter is how old a heartbeat must be for its worker, on any host, to be pruned
	// as dead. Zero means 300s (Ruby resque's prune interval); it is raised to at least
	// three heartbeat intervals.
	PruneAfter time.Duration
	// DeadJobs decides what happens to the in-flight job of a pruned dead worker.
	DeadJobs DeadJobPolicy
	// Observer, when set, is told about every job and Redis failure, for metrics.
	Observer Observer
	// ClassStats is how many classes the per-class statistics keep (Keys.Classes), the
	// least recently seen dropped beyond it; the worker holds at most as many rows in
	// memory between two writes. Zero means DefaultClassStatsLimit; negative turns the
	// statistics off.
	ClassStats int

	// Fixed for a Worker's lifetime: the clock and the process id its ids carry.
	now   func() time.Time
	pid   int
	pidNS string // this process's pid namespace, see Keys.PIDNamespaces
}

// normalized returns c with defaults filled in, or an error for what cannot be fixed.
func (c Config) normalized() (Config, error) {
	if c.Handler == nil {
		return c, errors.New("resque: Config.Handler is required")
	}
	var qs []string
	for _, q := range c.Queues {
		q = strings.TrimSpace(q)
		if q != "" {
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return c, errors.New("resque: no queues to work (set QUEUE)")
	}
	for _, q := range qs {
		if q == "*" && len(qs) > 1 {
			return c, errors.New(`resque: "*" must be the only queue`)
		}
	}
	c.Queues = qs
	if c.Interval < 0 {
		return c, fmt.Errorf("resque: negative interval %v", c.Interval)
	}
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Concurrency < 0 {
		return c, fmt.Errorf("resque: negative concurrency %d", c.Concurrency)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Dialect != DialectPHPResque1 && c.Dialect != DialectPHPResque136 {
		return c, fmt.Errorf("resque: unknown dialect %d", c.Dialect)
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("resque: hostname: %w", err)
		}
		c.Hostname = h
	}
	if strings.Contains(c.Hostname, ":") {
		return c, fmt.Errorf("resque: hostname %q contains ':', which breaks worker ids", c.Hostname)
	}
	if c.KillTimeout <= 0 {
		c.KillTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 60 * time.Second
	}
	if c.PruneAfter <= 0 {
		c.PruneAfter = 300 * time.Second
	}
	if c.PruneAfter < 3*c.HeartbeatInterval {
		c.PruneAfter = 3 * c.HeartbeatInterval
	}
	if c.ShutdownTimeout < 0 {
		c.ShutdownTimeout = 0
	}
	if c.ClassStats == 0 {
		c.ClassStats = DefaultClassStatsLimit
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.pid == 0 {
		c.pid = os.Getpid()
	}
	if c.pidNS == "" {
		c.pidNS = selfPIDNamespace()
	}
	return c, nil
}
