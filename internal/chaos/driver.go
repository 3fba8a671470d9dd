package chaos

// The driver: Run, the worker processes it starts, restarts and stops, and its Redis
// commands.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
)

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
	if !procSupported {
		return nil, errors.New("chaos: the driver reads /proc and runs on Linux only")
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	d := newDriver(cfg, seed)
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

// withDefaults checks cfg and fills in the defaults the Config fields document.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Jobs <= 0 {
		return cfg, errors.New("chaos: no jobs")
	}
	if len(cfg.Program) == 0 {
		return cfg, errors.New("chaos: no worker program")
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
		return cfg, fmt.Errorf("chaos: PHP share %v: want 0 to 1", cfg.PHPShare)
	}
	if cfg.PHPShare == 0 {
		return cfg, nil
	}
	if cfg.PHPMode == "" {
		cfg.PHPMode = "pool"
	}
	if cfg.PHPIsolation == "" {
		cfg.PHPIsolation = "fork"
	}
	if cfg.PHPMode != "pool" && cfg.PHPMode != "job" {
		return cfg, fmt.Errorf("chaos: PHP mode %q: want pool or job", cfg.PHPMode)
	}
	if cfg.PHPIsolation != "fork" && cfg.PHPIsolation != "none" {
		return cfg, fmt.Errorf("chaos: PHP isolation %q: want fork or none", cfg.PHPIsolation)
	}
	if cfg.PHPMode == "job" {
		cfg.PHPIsolation = "none" // a fresh php per job forks nothing
	}
	if !filepath.IsAbs(cfg.AppInclude) {
		return cfg, fmt.Errorf("chaos: PHP jobs need the absolute path of testdata/phpapp/bootstrap.php as AppInclude, not %q", cfg.AppInclude)
	}
	if _, err := os.Stat(cfg.AppInclude); err != nil {
		return cfg, fmt.Errorf("chaos: %w", err)
	}
	return cfg, nil
}

// newDriver returns the driver of a run of cfg (checked) with its random source, its
// report, the run's token and a pool of Redis connections named DriverName.
func newDriver(cfg Config, seed uint64) *driver {
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
	return d
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
	client := resque.NewClient(d.pool, resque.ClientConfig{Namespace: d.keys.Namespace(), Dialect: resque.DialectPHPResque136})
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
	cmd.SysProcAttr = workerProcAttr()
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
