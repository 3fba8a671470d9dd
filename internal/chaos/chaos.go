// Package chaos is goresque's zero-loss proof. Run drives a goresque worker program (a
// separate process, see WorkerMux) against a Redis server while it works a queue of
// tracked php-resque jobs, injects faults at random moments — SIGKILL of the worker
// process, SIGKILL of its whole process group, CLIENT KILL of its Redis connections —,
// restarts the worker after each kill (the new worker prunes the dead one and settles its
// in-flight job), and at the end accounts for every job id: performed, recorded in
// `failed` as a dirty exit, still queued, or lost.
//
// With Config.PHPShare, a share of the jobs is the PHP class PHPClass, run by the worker's
// PHP bridge (package compat) in php processes the faults hit too: kill-group kills the
// worker with every php process it started, and after kill-proc (the worker alone) the
// driver checks that its php processes die by themselves (Pdeathsig) and follows the job
// children a warm process had forked (fork isolation), which outlive it (see php.go).
//
// scripts/chaos runs it from the command line; command's chaos test runs a short version
// under go test.
package chaos

import (
	"io"
	"time"
)

// DriverName is the CLIENT SETNAME of the driver's connections, which ClientKill spares.
const DriverName = "chaos-driver"

// Config says what Run does.
type Config struct {
	Jobs   int    // jobs to enqueue (tracked, php-resque v1.3.6 format)
	Faults int    // faults to inject while the queue is worked
	Kinds  []Kind // fault kinds, used in equal shares, shuffled; nil: DefaultKinds

	Concurrency int    // GORESQUE_CONCURRENCY of the worker
	Count       int    // COUNT of the worker; 0 or 1: a single process
	Blocking    bool   // BLOCKING=1
	DeadJobs    string // GORESQUE_DEAD_JOBS: "fail" or "requeue"
	Interval    string // INTERVAL, seconds

	MaxSleep     time.Duration // longest random sleep of a job (EnvMaxSleep)
	RestartDelay time.Duration // longest random pause before a killed worker is restarted
	Seed         uint64        // random seed; 0: random
	Timeout      time.Duration // the whole run; then the jobs left are reported as stuck

	Namespace string // PREFIX; "" means "resque"
	Queue     string // "" means "chaos"

	// The worker program: Program[0] is the executable, the rest its arguments (usually
	// "work"); Argv0, when set, replaces argv[0]. Env is added to the environment (it must
	// switch the program to a goresque whose mux is WorkerMux).
	Program []string
	Argv0   string
	Env     []string

	// The Redis server: "unix" and a socket path, or "tcp" and host:port.
	Network, Addr string

	// PHP jobs: PHPShare of the jobs (0 to 1) are PHPClass, run by the worker's PHP bridge
	// with APP_INCLUDE=AppInclude (an absolute path; testdata/phpapp/bootstrap.php loads
	// testdata/phpapp/jobs/Chaos/PhpJob.php), GORESQUE_PHP=PHPMode ("pool", the default, or
	// "job") and GORESQUE_PHP_ISOLATION=PHPIsolation ("fork", the default, or "none").
	// With PHPShare 0 the worker runs with GORESQUE_PHP=off and needs no php.
	PHPShare     float64
	PHPMode      string
	PHPIsolation string
	AppInclude   string

	// WorkerLog is the file the worker processes write their logs to (created, appended).
	WorkerLog string
	// Progress receives one line per fault and a few notes; nil: none.
	Progress io.Writer
}
