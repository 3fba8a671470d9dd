package compat

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// Mode is the process model; see the package documentation.
type Mode int

const (
	// ModePool keeps warm PHP processes. The zero Mode.
	ModePool Mode = iota
	// ModePerJob starts a fresh php process per job.
	ModePerJob
)

// ParseMode accepts "pool" and "job" (also "per-job").
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "pool":
		return ModePool, nil
	case "job", "per-job", "perjob":
		return ModePerJob, nil
	}
	return 0, fmt.Errorf("compat: unknown PHP mode %q (want pool or job)", s)
}

func (m Mode) String() string {
	if m == ModePerJob {
		return "job"
	}
	return "pool"
}

// Isolation says how a warm process runs a job.
type Isolation int

const (
	// IsolationFork runs each job in a child forked from the warm process, as php-resque
	// does. The zero Isolation.
	IsolationFork Isolation = iota
	// IsolationNone runs jobs in the warm process itself.
	IsolationNone
)

// ParseIsolation accepts "fork" and "none".
func ParseIsolation(s string) (Isolation, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "fork":
		return IsolationFork, nil
	case "none", "inline":
		return IsolationNone, nil
	}
	return 0, fmt.Errorf("compat: unknown PHP isolation %q (want fork or none)", s)
}

func (i Isolation) String() string {
	if i == IsolationNone {
		return "none"
	}
	return "fork"
}

// Config configures the bridge. The zero value runs `php` from PATH in a pool of one warm
// process with fork isolation and no limits.
type Config struct {
	// Binary is the php executable; "" means "php" from PATH.
	Binary string
	// Args are extra arguments before the script, e.g. {"-d", "memory_limit=512M"}.
	Args []string
	// AppInclude is the file loaded before jobs run, as php-resque's APP_INCLUDE: the
	// application's bootstrap or Composer's vendor/autoload.php.
	AppInclude string
	// Env is added to the PHP processes' environment (which is goresque's own otherwise):
	// jobs see REDIS_BACKEND, PREFIX and the rest as under bin/resque.
	Env []string
	// Mode and Isolation select the process model.
	Mode      Mode
	Isolation Isolation
	// PoolSize is the most PHP jobs run at once, so the most php processes (warm ones in
	// ModePool, which start lazily with the first PHP job); more callers wait for a turn.
	// goresque sets it from GORESQUE_PHP_POOL (default: the number of CPUs, never more
	// than the worker's slots). Zero means 1.
	PoolSize int
	// IdleTimeout stops a warm process that has had no job for that long. Zero means one
	// minute.
	IdleTimeout time.Duration
	// Timeout ends a job that runs longer (its process group is killed; the job is
	// recorded as a dirty exit). Zero means no limit, as in php-resque.
	Timeout time.Duration
	// KillGrace is how long a job may take to exit after SIGTERM before SIGKILL. Zero
	// means 5s.
	KillGrace time.Duration
	// MaxJobs, MaxMemory (resident bytes) and TTL recycle a warm process after that many
	// jobs, above that size, or after that age. Zero means no limit.
	MaxJobs   int
	MaxMemory int64
	TTL       time.Duration
	// Dialect tells the runner which php-resque it stands in for: php-resque-1 does not
	// catch PHP's Error (the job dies with exit code 255), v1.3.6 records it.
	Dialect resque.Dialect
	// Logger receives start-up messages and every line a job prints, with the job's id.
	Logger zerolog.Logger
	// Debug copies the protocol traffic to the logger (GORESQUE_PHP_DEBUG).
	Debug bool
}

// NotFoundError is returned when the php binary cannot be found.
type NotFoundError struct {
	Binary string
	Err    error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("php binary %q not found (install Debian's php-cli, set GORESQUE_PHP_BINARY, or GORESQUE_PHP=off for Go handlers only): %v", e.Binary, e.Err)
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// ErrAppInclude is wrapped by the error New or Check returns when the application cannot be
// loaded.
var ErrAppInclude = errors.New("compat: the PHP application could not be loaded")

func (c Config) normalized() (Config, error) {
	if c.Binary == "" {
		c.Binary = "php"
	}
	path, err := exec.LookPath(c.Binary)
	if err != nil {
		return c, &NotFoundError{Binary: c.Binary, Err: err}
	}
	c.Binary = path
	if c.PoolSize <= 0 {
		c.PoolSize = 1
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = time.Minute
	}
	if c.KillGrace <= 0 {
		c.KillGrace = 5 * time.Second
	}
	if c.Timeout < 0 || c.MaxJobs < 0 || c.MaxMemory < 0 || c.TTL < 0 {
		return c, errors.New("compat: negative limit")
	}
	if c.MaxMemory > 0 && !canMeasureMemory {
		return c, errors.New("compat: MaxMemory (GORESQUE_PHP_MAX_MEMORY) needs Linux's /proc to measure a process")
	}
	return c, nil
}
