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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
)

// Kind is a kind of fault.
type Kind string

// The faults Run injects.
const (
	// KillProc is SIGKILL of one worker process: the worker itself, or with COUNT a
	// randomly chosen process of the group (the parent or one of its workers).
	KillProc Kind = "kill-proc"
	// KillGroup is SIGKILL of the worker's whole process group together with every php
	// process the worker started: each in a process group of its own, and the children
	// those fork for jobs in yet others. The tree is frozen first and killed at once, as a
	// container's or cgroup's kill would (killTree).
	KillGroup Kind = "kill-group"
	// ClientKill is CLIENT KILL of every connection of the worker (every normal client
	// but the driver's own, which are named DriverName).
	ClientKill Kind = "client-kill"
	// Quit is SIGQUIT (a graceful stop: running jobs finish) and a restart, as in a deploy.
	// Not a fault, but a stop in the middle of the traffic, which the faults then meet.
	Quit Kind = "quit"
)

// AllKinds are the fault kinds, in the order they are reported.
var AllKinds = []Kind{KillProc, KillGroup, ClientKill, Quit}

// DefaultKinds are the kinds Run uses when Config.Kinds is nil.
var DefaultKinds = []Kind{KillProc, KillGroup, ClientKill}

// ParseKinds reads a comma-separated list of fault kinds.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k := Kind(f)
		if k != KillProc && k != KillGroup && k != ClientKill && k != Quit {
			return nil, fmt.Errorf("unknown fault kind %q (want %s, %s, %s or %s)", f, KillProc, KillGroup, ClientKill, Quit)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no fault kinds")
	}
	return out, nil
}

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

// Fault is one injected fault.
type Fault struct {
	N        int
	At       time.Duration // since the worker was first started
	Kind     Kind
	Target   string   // what was hit
	InFlight []string // ids of the jobs in flight (any worker) just before the fault
	Held     []string // ids of the jobs the killed processes held when they died (SIGKILL)
	Killed   int      // connections killed (ClientKill)

	PHPKilled int   // php processes killed with the worker's tree (KillGroup)
	PHPDied   int   // the killed worker's php processes that died with it (KillProc, Pdeathsig)
	Orphans   []int // pids of its job children that outlived it (KillProc, fork isolation)
}

func (f Fault) String() string {
	s := fmt.Sprintf("fault %2d  t=%6.2fs  %-11s %-36s in flight: %d", f.N, f.At.Seconds(), f.Kind, f.Target, len(f.InFlight))
	if f.Kind == KillProc || f.Kind == KillGroup {
		s += fmt.Sprintf(", held by the dead: %d", len(f.Held))
	}
	switch {
	case f.PHPKilled > 0:
		s += fmt.Sprintf("; php killed: %d", f.PHPKilled)
	case f.PHPDied > 0 || len(f.Orphans) > 0:
		s += fmt.Sprintf("; php died with it: %d, job children outliving it: %d", f.PHPDied, len(f.Orphans))
	}
	return s
}

// Fate is what became of one job.
type Fate struct {
	ID       string
	Runs     []string      // execution tokens pid/worker/seq, one per handler execution
	Status   resque.Status // 0: no status key
	Result   string        // the status packet's result: the token of the completing execution
	Failed   int           // records in `failed` carrying this id
	Queued   int           // copies still in the queue
	InFlight int           // in-flight records carrying it
}

// Report is the outcome of Run.
type Report struct {
	Jobs         int
	Faults       []Fault
	FaultsByKind map[Kind]int
	Shortfall    int // faults not injected because the queue ran dry first

	Performed int // status complete and the handler ran
	Failed    int // recorded in `failed` as Resque_Job_DirtyExitException (not complete)
	FailedRan int // ... of which the handler had run before its worker died
	// FailedStatus counts the status packets of the failed jobs (a dead worker's job
	// keeps the status it had: running).
	FailedStatus map[resque.Status]int
	Requeued     int // dead workers' jobs put back at the head of their queue (requeue: HeldAtKill)
	HeldAtKill   int // jobs held by SIGKILLed workers when they died, summed over the faults
	Duplicates   int // jobs whose handler ran more than once
	Queued       int // still in the queue at the end
	InFlight     int // still held by a worker at the end
	Lost         int // none of the above

	LostIDs      []string
	DuplicateIDs []string
	Fates        map[string]*Fate
	Anomalies    []string // anything inconsistent: a bug even when nothing was lost

	StatProcessed, StatFailed, FailedLen int64
	PrunedFailed                         int // worker log: prunes recording a dead job as failed
	RequeueLogs                          int // worker log: prunes requeueing a dead job
	Adopted                              int // worker log: claims resumed after a lost reply
	Replays                              int // worker log: outcomes already settled (replay or prune)
	ChildCrashes                         int // worker log (COUNT): worker processes that died
	UnexpectedExits                      []string
	ErrorLines                           []string // worker log lines at level error (first few)
	Stopped                              string   // how the last worker ended after SIGQUIT
	Elapsed                              time.Duration

	PHP PHPReport // the PHP jobs and processes (Config.PHPShare)
}

// proc is one top-level worker process the driver started, in its own process group.
type proc struct {
	cmd    *exec.Cmd
	pgid   int
	done   chan struct{}
	killed bool // the driver SIGKILLed it
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

type driver struct {
	cfg    Config
	rng    *rand.Rand
	keys   resque.Keys
	pool   *redis.Pool
	conn   redis.Conn
	log    *os.File
	cur    *proc
	all    []*proc
	t0     time.Time
	rep    *Report
	runKey string
	token  string // in the environment of every process of this run (EnvRunToken)

	php     bool                // PHP jobs in the run
	phpIDs  map[string]bool     // their ids
	orphans map[procKey]*Orphan // job children that outlived their worker, watched until they exit
	watch   sync.WaitGroup      // the watchers
	mu      sync.Mutex          // guards the Orphans' fields the watchers set
}

// Run enqueues cfg.Jobs jobs, works them with the worker program while injecting
// cfg.Faults faults, stops the worker with SIGQUIT and accounts for every job. It starts
// and stops every worker process itself; none is left running when it returns. The error
// is about the run itself (Redis unreachable, the program cannot start), not about jobs:
// those are in the Report.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if cfg.Jobs <= 0 {
		return nil, errors.New("chaos: no jobs")
	}
	if len(cfg.Program) == 0 {
		return nil, errors.New("chaos: no worker program")
	}
	if cfg.Kinds == nil {
		cfg.Kinds = DefaultKinds
	}
	if cfg.Queue == "" {
		cfg.Queue = "chaos"
	}
	if cfg.DeadJobs == "" {
		cfg.DeadJobs = "fail"
	}
	if cfg.Interval == "" {
		cfg.Interval = "0.05"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Second
	}
	if cfg.PHPShare < 0 || cfg.PHPShare > 1 {
		return nil, fmt.Errorf("chaos: PHP share %v: want 0 to 1", cfg.PHPShare)
	}
	if cfg.PHPShare > 0 {
		if cfg.PHPMode == "" {
			cfg.PHPMode = "pool"
		}
		if cfg.PHPIsolation == "" {
			cfg.PHPIsolation = "fork"
		}
		if cfg.PHPMode != "pool" && cfg.PHPMode != "job" {
			return nil, fmt.Errorf("chaos: PHP mode %q: want pool or job", cfg.PHPMode)
		}
		if cfg.PHPIsolation != "fork" && cfg.PHPIsolation != "none" {
			return nil, fmt.Errorf("chaos: PHP isolation %q: want fork or none", cfg.PHPIsolation)
		}
		if cfg.PHPMode == "job" {
			cfg.PHPIsolation = "none" // a fresh php per job forks nothing
		}
		if !filepath.IsAbs(cfg.AppInclude) {
			return nil, fmt.Errorf("chaos: PHP jobs need the absolute path of testdata/phpapp/bootstrap.php as AppInclude, not %q", cfg.AppInclude)
		}
		if _, err := os.Stat(cfg.AppInclude); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	d := &driver{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		keys: resque.NewKeys(cfg.Namespace),
		rep:  &Report{Jobs: cfg.Jobs, FaultsByKind: map[Kind]int{}, Fates: map[string]*Fate{}, FailedStatus: map[resque.Status]int{}},

		php:     cfg.PHPShare > 0,
		phpIDs:  map[string]bool{},
		orphans: map[procKey]*Orphan{},
	}
	if d.php {
		d.rep.PHP.Mode, d.rep.PHP.Isolation = cfg.PHPMode, cfg.PHPIsolation
	}
	d.runKey = d.keys.Namespace() + "chaos:runs:"
	d.token = fmt.Sprintf("%016x", rand.Uint64())
	d.pool = &redis.Pool{
		MaxIdle: 4,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, cfg.Network, cfg.Addr, redis.DialReadTimeout(30*time.Second))
			if err != nil {
				return nil, err
			}
			if _, err := c.Do("CLIENT", "SETNAME", DriverName); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	defer d.pool.Close()
	d.conn, err = d.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("chaos: redis: %w", err)
	}
	defer func() { d.conn.Close() }()
	d.log, err = os.OpenFile(cfg.WorkerLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chaos: worker log: %w", err)
	}
	defer d.log.Close()
	// Whatever happens, no worker process outlives Run, nor a watcher of one.
	defer d.watch.Wait()
	defer d.killAll()

	d.notef("seed %d", seed)
	ids, err := d.enqueue(ctx)
	if err != nil {
		return nil, err
	}
	d.t0 = time.Now()
	if err := d.start(); err != nil {
		return nil, err
	}
	if err := d.inject(ctx); err != nil {
		return nil, err
	}
	if err := d.drain(ctx); err != nil {
		d.notef("%v", err)
		d.rep.Anomalies = append(d.rep.Anomalies, err.Error())
	}
	d.stop()
	d.rep.Elapsed = time.Since(d.t0)
	if err := d.account(ids); err != nil {
		return nil, err
	}
	d.watch.Wait() // stop has waited for every process of the run to end
	d.accountOrphans()
	d.readLog()
	return d.rep, nil
}

func (d *driver) notef(format string, args ...any) {
	if d.cfg.Progress != nil {
		fmt.Fprintf(d.cfg.Progress, format+"\n", args...)
	}
}

// do runs a command on the driver's connection, redialing once if it broke.
func (d *driver) do(cmd string, args ...any) (any, error) {
	v, err := d.conn.Do(cmd, args...)
	if err != nil && d.conn.Err() != nil {
		d.conn.Close()
		d.conn = d.pool.Get()
		v, err = d.conn.Do(cmd, args...)
	}
	return v, err
}

func (d *driver) enqueue(ctx context.Context) ([]string, error) {
	if n, _ := redis.Int(d.do("LLEN", d.keys.Queue(d.cfg.Queue))); n != 0 {
		return nil, fmt.Errorf("chaos: queue %s is not empty (%d jobs): use a fresh namespace", d.keys.Queue(d.cfg.Queue), n)
	}
	if n, _ := redis.Int(d.do("SCARD", d.keys.Workers())); n != 0 {
		return nil, fmt.Errorf("chaos: %d workers already registered in %s: use a fresh namespace", n, d.keys.Namespace())
	}
	client := resque.NewClient(d.pool, d.keys.Namespace(), resque.DialectPHPResque136)
	ids := make([]string, 0, d.cfg.Jobs)
	// PHPShare of the jobs, at random places in the queue, are PHP jobs.
	php := map[int]bool{}
	if d.php {
		for _, i := range d.rng.Perm(d.cfg.Jobs)[:int(math.Round(d.cfg.PHPShare*float64(d.cfg.Jobs)))] {
			php[i] = true
		}
	}
	for i := range d.cfg.Jobs {
		class := Class
		if php[i] {
			class = PHPClass
		}
		id, err := client.Enqueue(ctx, d.cfg.Queue, class, map[string]any{"n": i}, resque.EnqueueOptions{Track: true})
		if err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		ids = append(ids, id)
		if php[i] {
			d.phpIDs[id] = true
		}
	}
	d.rep.PHP.Jobs = len(d.phpIDs)
	return ids, nil
}

// start starts a worker program in a process group of its own.
func (d *driver) start() error {
	c := d.cfg
	prog := c.Program
	cmd := exec.Command(prog[0], prog[1:]...)
	if c.Argv0 != "" {
		cmd.Args[0] = c.Argv0
	}
	env := []string{}
	override := map[string]bool{"QUEUE": true, "INTERVAL": true, "BLOCKING": true, "COUNT": true, "REDIS_BACKEND": true,
		"REDIS_BACKEND_DB": true, "PREFIX": true, "GORESQUE_CONCURRENCY": true, "GORESQUE_DEAD_JOBS": true,
		"GORESQUE_LOG_FORMAT": true, "LOGGING": true, "VERBOSE": true, "VVERBOSE": true, "PIDFILE": true,
		"GORESQUE_SHUTDOWN_TIMEOUT": true, "GORESQUE_REEXEC": true, "GORESQUE_COUNT_CHILD": true,
		"APP_INCLUDE": true, "GORESQUE_PHP": true, "GORESQUE_PHP_ISOLATION": true}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !override[k] {
			env = append(env, kv)
		}
	}
	backend := c.Addr
	if c.Network == "unix" && !strings.HasPrefix(backend, "/") {
		backend = "unix://" + backend
	}
	ns := strings.TrimSuffix(d.keys.Namespace(), ":")
	env = append(env,
		"QUEUE="+c.Queue, "INTERVAL="+c.Interval, "REDIS_BACKEND="+backend, "PREFIX="+ns,
		"GORESQUE_CONCURRENCY="+strconv.Itoa(c.Concurrency), "GORESQUE_DEAD_JOBS="+c.DeadJobs,
		"GORESQUE_LOG_FORMAT=json",
		EnvRedis+"="+c.Network+":"+c.Addr, EnvRunsKey+"="+d.runKey, EnvMaxSleep+"="+c.MaxSleep.String(),
		EnvMaxSleepMicros+"="+strconv.FormatInt(c.MaxSleep.Microseconds(), 10), EnvRunToken+"="+d.token)
	if d.php {
		env = append(env, "APP_INCLUDE="+c.AppInclude, "GORESQUE_PHP="+c.PHPMode, "GORESQUE_PHP_ISOLATION="+c.PHPIsolation)
	} else {
		env = append(env, "GORESQUE_PHP=off") // Go jobs only: no php needed
	}
	if c.Count > 1 {
		env = append(env, "COUNT="+strconv.Itoa(c.Count))
	}
	if c.Blocking {
		env = append(env, "BLOCKING=1")
	}
	cmd.Env = append(env, c.Env...)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	// A group of its own (KillGroup); and if the driver dies, the worker dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chaos: start worker: %w", err)
	}
	p := &proc{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	d.cur = p
	d.all = append(d.all, p)
	return nil
}

// redisErr wraps an error of the driver's own Redis commands, telling whether the server
// is still there: a server that went away was stopped from outside (the faults never
// touch it), and the run proves nothing.
func (d *driver) redisErr(err error) error {
	c, derr := redis.Dial(d.cfg.Network, d.cfg.Addr, redis.DialConnectTimeout(time.Second))
	if derr == nil {
		_, derr = c.Do("PING")
		c.Close()
	}
	if derr != nil {
		return fmt.Errorf("chaos: the redis-server at %s is gone (%v): it was stopped from outside the run; the driver's command failed with %w", d.cfg.Addr, derr, err)
	}
	return fmt.Errorf("chaos: %w", err)
}

// tend restarts the worker when it exited without being killed by the driver.
func (d *driver) tend() error {
	p := d.cur
	if p.killed || !p.exited() {
		return nil
	}
	msg := fmt.Sprintf("t=%.2fs worker pid %d exited by itself: %s", time.Since(d.t0).Seconds(), p.cmd.Process.Pid, p.cmd.ProcessState)
	d.rep.UnexpectedExits = append(d.rep.UnexpectedExits, msg)
	d.notef("%s; restarting it", msg)
	time.Sleep(100 * time.Millisecond)
	return d.start()
}

// counts returns the queue length and the number of in-flight records.
func (d *driver) counts() (queued, inflight int, err error) {
	if queued, err = redis.Int(d.do("LLEN", d.keys.Queue(d.cfg.Queue))); err != nil {
		return
	}
	inflight, err = redis.Int(d.do("HLEN", d.keys.InFlight()))
	return
}

// inflightJobs returns the in-flight records: worker id → job id.
func (d *driver) inflightJobs() (map[string]string, error) {
	m, err := redis.StringMap(d.do("HGETALL", d.keys.InFlight()))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for w, rec := range m {
		out[w] = recordJobID([]byte(rec))
	}
	return out, nil
}

// busy reports whether a process of the current worker group holds a job; with php, a
// PHP job.
func (d *driver) busy(php bool) (bool, error) {
	m, err := d.inflightJobs()
	if err != nil {
		return false, err
	}
	for w, id := range m {
		if pid := idPID(w); pid > 0 && pgidOf(pid) == d.cur.pgid && (!php || d.phpIDs[id]) {
			return true, nil
		}
	}
	return false, nil
}

// inject injects the faults, each once a share of the jobs has been taken (so they are
// spread over the run whatever its speed) and a job of the current worker is in flight.
func (d *driver) inject(ctx context.Context) error {
	n := d.cfg.Faults
	kinds := make([]Kind, n)
	for i := range kinds {
		kinds[i] = d.cfg.Kinds[i%len(d.cfg.Kinds)]
	}
	d.rng.Shuffle(n, func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for i := range n {
		// Fault i fires after a random point of the i-th stratum of 5%..85% of the jobs.
		at := int(float64(d.cfg.Jobs) * (0.05 + 0.80*(float64(i)+d.rng.Float64())/float64(n)))
		// With PHP jobs, a SIGKILL waits for a PHP job of the current worker in flight, so
		// that it hits a php process at work, until the end of its stratum; then any job.
		wantPHP := d.php && (kinds[i] == KillProc || kinds[i] == KillGroup)
		end := int(float64(d.cfg.Jobs) * (0.05 + 0.80*float64(i+1)/float64(n)))
		for {
			ready := false
			for !ready {
				if err := ctx.Err(); err != nil {
					return err
				}
				if time.Since(d.t0) > d.cfg.Timeout {
					d.rep.Shortfall = n - i
					d.notef("timeout before fault %d", i+1)
					return nil
				}
				if err := d.tend(); err != nil {
					return err
				}
				q, inf, err := d.counts()
				if err != nil {
					return d.redisErr(err)
				}
				if q == 0 && inf == 0 {
					d.rep.Shortfall = n - i
					d.notef("the queue ran dry before fault %d", i+1)
					return nil
				}
				if d.cfg.Jobs-q >= at {
					wantPHP = wantPHP && d.cfg.Jobs-q < end
					if ready, err = d.busy(wantPHP); err != nil {
						return d.redisErr(err)
					}
				}
				if !ready {
					time.Sleep(2 * time.Millisecond)
				}
			}
			// Land at a random phase of the running jobs: claim, handler, outcome.
			if d.cfg.MaxSleep > 0 {
				time.Sleep(time.Duration(d.rng.Int64N(int64(d.cfg.MaxSleep) + 1)))
			}
			if !wantPHP {
				break
			}
			// The PHP job may have ended meanwhile: then wait for the next one.
			still, err := d.busy(true)
			if err != nil {
				return d.redisErr(err)
			}
			if still {
				break
			}
		}
		if err := d.fault(i+1, kinds[i]); err != nil {
			return err
		}
	}
	return nil
}

func (d *driver) fault(n int, kind Kind) error {
	f := Fault{N: n, Kind: kind}
	p := d.cur
	restart := false
	var victims []int
	switch kind {
	case KillProc:
		target := p.cmd.Process.Pid
		if d.cfg.Count > 1 {
			members := d.groupPIDs(p.pgid)
			if len(members) > 0 {
				target = members[d.rng.IntN(len(members))]
			}
		}
		victims = []int{target}
		if target == p.cmd.Process.Pid {
			p.killed = true
			restart = true
			f.Target = fmt.Sprintf("pid %d", target)
			if d.cfg.Count > 1 {
				f.Target += " (COUNT parent)"
			}
		} else {
			f.Target = fmt.Sprintf("pid %d (COUNT worker)", target)
		}
	case KillGroup:
		p.killed = true
		restart = true
	case Quit:
		p.killed = true
		restart = true
		f.Target = fmt.Sprintf("pid %d", p.cmd.Process.Pid)
	}
	if m, err := d.inflightJobs(); err == nil {
		for _, id := range m {
			f.InFlight = append(f.InFlight, id)
		}
		sort.Strings(f.InFlight)
	}
	f.At = time.Since(d.t0)
	frozen := false
	var before map[int]pinfo // with PHP: the run's processes just before a kill-proc
	switch kind {
	case KillProc:
		if d.php {
			// Stopped (every thread of it), the victim starts no php process and records
			// no outcome of a job between the look below and its death. Alone first: a
			// thread starting a php process waits for it to exec, which a process stopped
			// with the group before its exec never does.
			_ = syscall.Kill(victims[0], syscall.SIGSTOP)
			waitStopped(victims[0])
		}
		if victims[0] != p.cmd.Process.Pid {
			// A COUNT worker: freeze the rest of its group (the parent, which restarts it
			// after a backoff and whose new worker prunes it, and its siblings) until its
			// in-flight records are read below.
			frozen = syscall.Kill(-p.pgid, syscall.SIGSTOP) == nil
		}
		if d.php {
			before = d.snapshot()
		}
		_ = syscall.Kill(victims[0], syscall.SIGKILL)
	case KillGroup:
		killed := d.killTree(p)
		php := 0
		for pid, pi := range killed {
			victims = append(victims, pid)
			if pi.php() {
				php++
			}
		}
		sort.Ints(victims)
		f.PHPKilled = php
		f.Target = fmt.Sprintf("group %d (%d processes)", p.pgid, len(victims))
		if php > 0 {
			f.Target = fmt.Sprintf("group %d + php (%d processes, %d php)", p.pgid, len(victims), php)
		}
	case ClientKill:
		k, err := d.clientKill()
		if err != nil {
			return d.redisErr(err)
		}
		f.Killed = k
		f.Target = fmt.Sprintf("%d connections", k)
	case Quit:
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	}
	if frozen {
		defer syscall.Kill(-p.pgid, syscall.SIGCONT)
	}
	if len(victims) > 0 {
		// The jobs the killed processes held: their in-flight records once they are dead,
		// before anyone could prune them: the restarted worker starts after this, and
		// COUNT restarts a worker 1 s after its death at the earliest. A command a victim
		// wrote just before dying is still executed by Redis: it was in the socket before
		// the PING below was sent, so Redis, which handles every readable socket of an
		// event-loop turn before answering in the next, has run it before the HGETALL
		// that follows the PING's reply.
		deadline := time.Now().Add(10 * time.Second)
		for _, v := range victims {
			for d.ours(v) {
				if time.Now().After(deadline) {
					return fmt.Errorf("chaos: pid %d did not die of SIGKILL", v)
				}
				time.Sleep(time.Millisecond)
			}
		}
		switch {
		case before != nil:
			d.afterAloneKill(&f, victims[0], before, time.Now())
		case kind == KillGroup && d.php:
			d.rep.PHP.TreeKills++
			d.rep.PHP.TreeKilled += f.PHPKilled
			d.afterTreeKill(&f)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := d.do("PING"); err != nil {
			return d.redisErr(err)
		}
		dead := map[int]bool{}
		for _, v := range victims {
			dead[v] = true
		}
		m, err := d.inflightJobs()
		if err != nil {
			return d.redisErr(err)
		}
		for w, id := range m {
			if dead[idPID(w)] {
				f.Held = append(f.Held, id)
				if d.phpIDs[id] {
					d.rep.PHP.HeldAtKill++
				}
			}
		}
		sort.Strings(f.Held)
		if frozen {
			_ = syscall.Kill(-p.pgid, syscall.SIGCONT)
			frozen = false
		}
	}
	d.rep.Faults = append(d.rep.Faults, f)
	d.rep.FaultsByKind[kind]++
	d.notef("%s", f)
	if restart {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("chaos: worker pid %d did not exit after %s", p.cmd.Process.Pid, kind)
		}
		if kind == Quit && p.cmd.ProcessState.ExitCode() != 0 {
			d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("fault %d: the worker exited %s after SIGQUIT", n, p.cmd.ProcessState))
		}
		if d.cfg.RestartDelay > 0 {
			time.Sleep(time.Duration(d.rng.Int64N(int64(d.cfg.RestartDelay) + 1)))
		}
		return d.start()
	}
	return nil
}

// clientKill kills every normal client connection except the driver's, and returns how
// many it killed.
func (d *driver) clientKill() (int, error) {
	list, err := redis.String(d.do("CLIENT", "LIST", "TYPE", "normal"))
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		f := clientFields(line)
		if f["id"] == "" || f["name"] == DriverName {
			continue
		}
		ids = append(ids, f["id"])
	}
	c := d.pool.Get()
	defer c.Close()
	for _, id := range ids {
		if err := c.Send("CLIENT", "KILL", "ID", id); err != nil {
			return 0, err
		}
	}
	vals, err := redis.Values(c.Do(""))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vals {
		if k, err := redis.Int(v, nil); err == nil {
			n += k
		}
	}
	return n, nil
}

func clientFields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// drain waits until the queue is empty and no worker holds a job, restarting the worker
// if it exits by itself.
func (d *driver) drain(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.tend(); err != nil {
			return err
		}
		q, inf, err := d.counts()
		if err != nil {
			return d.redisErr(err)
		}
		if q == 0 && inf == 0 {
			busy, err := d.workingOn()
			if err != nil {
				return d.redisErr(err)
			}
			if busy == 0 {
				return nil
			}
		}
		if time.Since(d.t0) > d.cfg.Timeout {
			m, _ := d.inflightJobs()
			return fmt.Errorf("timeout after %v: %d jobs queued, %d in flight %v", d.cfg.Timeout, q, inf, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// workingOn counts the registered workers with a worker:<id> record.
func (d *driver) workingOn() (int, error) {
	ids, err := redis.Strings(d.do("SMEMBERS", d.keys.Workers()))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		e, err := redis.Int(d.do("EXISTS", d.keys.Worker(id)))
		if err != nil {
			return 0, err
		}
		n += e
	}
	return n, nil
}

// stop sends SIGQUIT to the current worker and waits for it, then for every other
// process of the run.
func (d *driver) stop() {
	p := d.cur
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
		d.rep.Stopped = p.cmd.ProcessState.String()
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			d.rep.Anomalies = append(d.rep.Anomalies, "the worker exited "+d.rep.Stopped+" after SIGQUIT")
		}
	case <-time.After(30 * time.Second):
		d.rep.Stopped = "still running 30s after SIGQUIT; killed"
		d.rep.Anomalies = append(d.rep.Anomalies, "the worker did not stop within 30s of SIGQUIT")
		p.killed = true
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		<-p.done
	}
	// Every other process of the run (a COUNT parent killed alone leaves its workers to
	// finish their job; PHP processes a worker started) ends on its own, or is killed.
	deadline := time.Now().Add(15 * time.Second)
	for len(d.ourPIDs()) > 0 {
		if time.Now().After(deadline) {
			left := d.ourPIDs()
			d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("processes of the run still running 15s after the end: %v", left))
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ws, err := redis.Strings(d.do("SMEMBERS", d.keys.Workers())); err == nil && len(ws) > 0 {
		d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("workers still registered after the stop: %v", ws))
	}
}

// killAll SIGKILLs every process of the run still running: only processes whose
// environment carries the run's token, never a process group by number, which may have
// been reused since.
func (d *driver) killAll() {
	for range 3 {
		pids := d.ourPIDs()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range d.all {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// account reads what became of every job.
func (d *driver) account(ids []string) error {
	r := d.rep
	fates := r.Fates
	for _, id := range ids {
		fates[id] = &Fate{ID: id}
	}
	c := d.pool.Get()
	defer c.Close()
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		for _, id := range part {
			_ = c.Send("GET", d.keys.JobStatus(id, ""))
			_ = c.Send("SMEMBERS", d.runKey+id)
		}
		vals, err := redis.Values(c.Do(""))
		if err != nil {
			return fmt.Errorf("chaos: account: %w", err)
		}
		for j, id := range part {
			f := fates[id]
			if b, err := redis.Bytes(vals[2*j], nil); err == nil {
				var st resque.JobStatus
				if json.Unmarshal(b, &st) == nil {
					f.Status = st.Status
					_ = json.Unmarshal(st.Result, &f.Result)
				}
			}
			f.Runs, _ = redis.Strings(vals[2*j+1], nil)
			sort.Strings(f.Runs)
		}
	}
	failed, err := redis.ByteSlices(c.Do("LRANGE", d.keys.Failed(), 0, -1))
	if err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	for _, rec := range failed {
		var fr struct {
			Exception string          `json:"exception"`
			Error     string          `json:"error"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(rec, &fr); err != nil {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("unreadable failure record %q", rec))
			continue
		}
		id := payloadID(fr.Payload)
		f := fates[id]
		if f == nil {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("failure record for an unknown job: %s", rec))
			continue
		}
		if fr.Exception != resque.ExceptionDirtyExit {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s failed with %s: %s", id, fr.Exception, fr.Error))
		}
		f.Failed++
	}
	queued, err := redis.ByteSlices(c.Do("LRANGE", d.keys.Queue(d.cfg.Queue), 0, -1))
	if err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	for _, p := range queued {
		if f := fates[payloadID(p)]; f != nil {
			f.Queued++
		} else {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("unknown job in the queue: %s", p))
		}
	}
	inflight, err := redis.ByteSlices(c.Do("HVALS", d.keys.InFlight()))
	if err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	for _, rec := range inflight {
		if f := fates[recordJobID(rec)]; f != nil {
			f.InFlight++
		}
	}
	// held counts, per job, the SIGKILLed workers that died holding it: each such hold must
	// be settled by exactly one prune, as a failure (fail) or a requeue (requeue).
	held := map[string]int{}
	for _, f := range r.Faults {
		for _, id := range f.Held {
			held[id]++
			r.HeldAtKill++
		}
	}
	requeue := d.cfg.DeadJobs == "requeue"
	if requeue {
		r.Requeued = r.HeldAtKill
	}
	for _, id := range ids {
		f := fates[id]
		h := held[id]
		if d.phpIDs[id] {
			switch {
			case f.Status == resque.StatusComplete:
				r.PHP.Performed++
			case f.Failed > 0:
				r.PHP.Failed++
				if len(f.Runs) > 0 {
					r.PHP.FailedRan++
				}
			}
			if len(f.Runs) > 1 {
				r.PHP.Duplicates++
			}
		}
		if len(f.Runs) > 1 {
			r.Duplicates++
			r.DuplicateIDs = append(r.DuplicateIDs, id)
			if !requeue || len(f.Runs)-1 > h {
				r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s ran %d times but was held by a killed worker %d times (dead jobs: %s)", id, len(f.Runs), h, d.cfg.DeadJobs))
			}
		}
		switch {
		case requeue && h > 0 && (f.Status != resque.StatusComplete || f.Failed > 0):
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s was held by a killed worker and requeued, yet ends with status %v and %d failure records", id, f.Status, f.Failed))
		case !requeue && f.Failed != h:
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s was held by a killed worker %d times but has %d failure records", id, h, f.Failed))
		}
		if f.Failed > 1 {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s recorded in failed %d times", id, f.Failed))
		}
		switch {
		case f.Status == resque.StatusComplete:
			if len(f.Runs) == 0 {
				r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s is complete but its handler never ran", id))
			}
			if f.Failed > 0 {
				r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s is complete and also in failed", id))
			}
			if f.Queued > 0 || f.InFlight > 0 {
				r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s is complete and still queued or in flight", id))
			}
			r.Performed++
		case f.Failed > 0:
			r.Failed++
			if len(f.Runs) > 0 {
				r.FailedRan++
			}
			r.FailedStatus[f.Status]++
		case f.Queued > 0:
			r.Queued++
		case f.InFlight > 0:
			r.InFlight++
		default:
			r.Lost++
			r.LostIDs = append(r.LostIDs, id)
		}
	}
	vals, err := redis.Values(c.Do("MGET", d.keys.Stat("processed"), d.keys.Stat("failed")))
	if err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	r.StatProcessed, _ = redis.Int64(vals[0], nil)
	r.StatFailed, _ = redis.Int64(vals[1], nil)
	r.FailedLen = int64(len(failed))
	if want := int64(r.Performed) + r.FailedLen; r.StatProcessed != want {
		r.Anomalies = append(r.Anomalies, fmt.Sprintf("stat:processed is %d, want %d (complete + failed)", r.StatProcessed, want))
	}
	if r.StatFailed != r.FailedLen {
		r.Anomalies = append(r.Anomalies, fmt.Sprintf("stat:failed is %d, failed holds %d", r.StatFailed, r.FailedLen))
	}
	return nil
}

// readLog counts what the workers logged about dead workers, adopted claims and crashes.
func (d *driver) readLog() {
	f, err := os.Open(d.cfg.WorkerLog)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	r := d.rep
	for sc.Scan() {
		var l struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case strings.Contains(l.Message, "goes back to the head of the queue"):
			r.RequeueLogs++
		case strings.Contains(l.Message, "is recorded as failed"):
			r.PrunedFailed++
		case strings.Contains(l.Message, "resuming a job claimed before the connection was lost"):
			r.Adopted++
		case strings.Contains(l.Message, "settled by someone else"):
			r.Replays++
		case strings.Contains(l.Message, "worker process died"):
			r.ChildCrashes++
		}
		if l.Level == "error" && len(r.ErrorLines) < 10 && !strings.Contains(l.Message, "redis unreachable; retrying") &&
			!strings.Contains(l.Message, "worker process died") {
			r.ErrorLines = append(r.ErrorLines, sc.Text())
		}
	}
}

// payloadID reads the "id" of a php-resque payload.
func payloadID(p []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(p, &v)
	return v.ID
}

// recordJobID reads the job id of a "working on" record {"queue","run_at","payload"}.
func recordJobID(rec []byte) string {
	var v struct {
		Payload json.RawMessage `json:"payload"`
	}
	_ = json.Unmarshal(rec, &v)
	return payloadID(v.Payload)
}

// idPID is the pid of a worker id host:pid:queues, 0 when not a number.
func idPID(id string) int {
	parts := strings.SplitN(id, ":", 3)
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}

// procStat reads the state and process group of pid from /proc/<pid>/stat.
func procStat(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid pgrp ...
	if len(f) < 3 {
		return 0, 0, false
	}
	pgid, err = strconv.Atoi(f[2])
	return f[0][0], pgid, err == nil
}

// pgidOf returns the process group of a live (not zombie) pid, or -1.
func pgidOf(pid int) int {
	st, pgid, ok := procStat(pid)
	if !ok || st == 'Z' || st == 'X' {
		return -1
	}
	return pgid
}

// ours reports whether pid is a live (not zombie) process of this run: its environment
// carries the run's token.
func (d *driver) ours(pid int) bool {
	if pgidOf(pid) == -1 {
		return false
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return err == nil && bytes.Contains(append([]byte{0}, env...), []byte("\x00"+EnvRunToken+"="+d.token+"\x00"))
}

// groupPIDs returns the live processes of this run in process group pgid, sorted.
func (d *driver) groupPIDs(pgid int) []int {
	return d.scan(func(pid int) bool { return pgidOf(pid) == pgid })
}

// ourPIDs returns every live process of this run, sorted.
func (d *driver) ourPIDs() []int {
	return d.scan(func(int) bool { return true })
}

func (d *driver) scan(match func(pid int) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if match(pid) && d.ours(pid) {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	var kinds []string
	for _, k := range AllKinds {
		if n := r.FaultsByKind[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(w, "jobs                 %d", r.Jobs)
	if r.PHP.Jobs > 0 {
		fmt.Fprintf(w, " (%d of them %s, run by the PHP bridge)", r.PHP.Jobs, PHPClass)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "faults               %d (%s)", len(r.Faults), strings.Join(kinds, ", "))
	if r.Shortfall > 0 {
		fmt.Fprintf(w, "; %d not injected: the queue ran dry first", r.Shortfall)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "performed            %d (status complete, handler ran)\n", r.Performed)
	fmt.Fprintf(w, "failed (dirty exits) %d (Resque_Job_DirtyExitException in failed; the handler had run for %d", r.Failed, r.FailedRan)
	if r.Failed > 0 {
		var sts []string
		for _, st := range []resque.Status{resque.StatusWaiting, resque.StatusRunning, resque.StatusFailed, resque.StatusComplete} {
			if n := r.FailedStatus[st]; n > 0 {
				sts = append(sts, fmt.Sprintf("%d %v", n, st))
			}
		}
		fmt.Fprintf(w, "; their status packets: %s", strings.Join(sts, ", "))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "requeued             %d (dead workers' jobs put back at the head of the queue)\n", r.Requeued)
	fmt.Fprintf(w, "held at SIGKILL      %d (jobs in flight in the killed processes, each checked to be failed or requeued once)\n", r.HeldAtKill)
	fmt.Fprintf(w, "duplicates           %d (handler ran more than once)\n", r.Duplicates)
	fmt.Fprintf(w, "still queued         %d\n", r.Queued)
	fmt.Fprintf(w, "still in flight      %d\n", r.InFlight)
	fmt.Fprintf(w, "lost                 %d\n", r.Lost)
	fmt.Fprintf(w, "stats                stat:processed %d, stat:failed %d, failed list %d\n", r.StatProcessed, r.StatFailed, r.FailedLen)
	fmt.Fprintf(w, "worker logs          %d prunes failing a dead job (racing pruners both log; one wins), %d requeues, %d claims resumed after a lost reply, %d outcomes found already settled, %d COUNT worker deaths\n",
		r.PrunedFailed, r.RequeueLogs, r.Adopted, r.Replays, r.ChildCrashes)
	fmt.Fprintf(w, "unexpected exits     %d\n", len(r.UnexpectedExits))
	for _, u := range r.UnexpectedExits {
		fmt.Fprintf(w, "  %s\n", u)
	}
	r.printPHP(w)
	fmt.Fprintf(w, "last worker          %s after SIGQUIT\n", r.Stopped)
	fmt.Fprintf(w, "elapsed              %.1fs\n", r.Elapsed.Seconds())
	if len(r.ErrorLines) > 0 {
		fmt.Fprintf(w, "worker errors (first %d):\n", len(r.ErrorLines))
		for _, l := range r.ErrorLines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	for i, id := range r.DuplicateIDs {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more duplicates\n", len(r.DuplicateIDs)-10)
			break
		}
		fmt.Fprintf(w, "duplicate %s: runs %v, completed by %q; %s\n", id, r.Fates[id].Runs, r.Fates[id].Result, r.faultsHolding(id))
	}
	for i, id := range r.LostIDs {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more lost\n", len(r.LostIDs)-10)
			break
		}
		f := r.Fates[id]
		fmt.Fprintf(w, "LOST %s: status %v, runs %v; %s\n", id, f.Status, f.Runs, r.faultsHolding(id))
	}
	if len(r.Anomalies) > 0 {
		fmt.Fprintf(w, "anomalies            %d\n", len(r.Anomalies))
		for i, a := range r.Anomalies {
			if i == 20 {
				fmt.Fprintf(w, "  ... %d more\n", len(r.Anomalies)-20)
				break
			}
			fmt.Fprintf(w, "  %s\n", a)
		}
	} else {
		fmt.Fprintf(w, "anomalies            none\n")
	}
	fmt.Fprintf(w, "delivery             %s\n", r.Guarantee())
}

// faultsHolding names the faults that hit while job id was in flight.
func (r *Report) faultsHolding(id string) string {
	var hits []string
	for _, f := range r.Faults {
		for _, j := range f.Held {
			if j == id {
				hits = append(hits, fmt.Sprintf("held by the dead at fault %d (%s %s at %.2fs)", f.N, f.Kind, f.Target, f.At.Seconds()))
			}
		}
		if f.Kind == ClientKill {
			for _, j := range f.InFlight {
				if j == id {
					hits = append(hits, fmt.Sprintf("in flight at fault %d (%s at %.2fs)", f.N, f.Kind, f.At.Seconds()))
				}
			}
		}
	}
	if len(hits) == 0 {
		return "hit by no fault"
	}
	return strings.Join(hits, ", ")
}

// heldAtKill reports whether job id was held by a worker when it was SIGKILLed.
func (r *Report) heldAtKill(id string) bool {
	for _, f := range r.Faults {
		for _, j := range f.Held {
			if j == id {
				return true
			}
		}
	}
	return false
}

// OK reports whether every job is accounted for and nothing was inconsistent.
func (r *Report) OK() bool {
	return r.Lost == 0 && r.Queued == 0 && r.InFlight == 0 && len(r.Anomalies) == 0
}

// Guarantee states the delivery guarantee the run observed.
func (r *Report) Guarantee() string {
	switch {
	case r.Lost > 0:
		return fmt.Sprintf("VIOLATED: %d jobs lost", r.Lost)
	case r.Queued > 0 || r.InFlight > 0:
		return fmt.Sprintf("not settled: %d jobs still queued, %d in flight", r.Queued, r.InFlight)
	case r.Duplicates > 0:
		atKill := 0
		for _, id := range r.DuplicateIDs {
			if r.heldAtKill(id) {
				atKill++
			}
		}
		return fmt.Sprintf("at least once: no job lost; %d jobs ran more than once, %d of them held by a SIGKILLed worker and requeued", r.Duplicates, atKill)
	case r.Failed > 0:
		return "at least once (recorded): no job lost, none ran twice; every job was performed, or recorded in failed as a dirty exit when its worker died mid-job (retryable from there)"
	}
	return "exactly once in this run: every job performed once, none lost"
}
