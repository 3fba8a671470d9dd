package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

//go:embed php/runner.php
var runnerPHP []byte

// PHP runs jobs as PHP classes; it is a resque.Handler. Create it with New, check the
// application with Check at start-up, and Close it when the worker has stopped.
type PHP struct {
	cfg    Config
	dir    string // a private directory to remove on Close, or ""
	runner string
	log    zerolog.Logger
	mark   []byte // the end mark of a job's output (see output)

	slots chan struct{} // one per PHP job running (PoolSize)

	mu      sync.Mutex
	idle    []*proc // warm processes not running a job (ModePool), the most recent last
	live    map[*proc]bool
	closed  bool
	reaping bool          // the idle reaper runs
	quit    chan struct{} // closed by Close: stops the reaper

	restarts restartCounters // warm processes recycled, by reason (see Stats)
}

// New checks cfg (the php binary must exist: a *NotFoundError otherwise) and makes sure the
// runner script is on disk.
func New(cfg Config) (*PHP, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	runner, tmp, err := writeRunner()
	if err != nil {
		return nil, fmt.Errorf("compat: %w", err)
	}
	return &PHP{
		cfg:    cfg,
		dir:    tmp,
		runner: runner,
		log:    cfg.Logger.With().Str("component", "php").Logger(),
		mark:   newMark(),
		slots:  make(chan struct{}, cfg.PoolSize),
		live:   map[*proc]bool{},
		quit:   make(chan struct{}),
	}, nil
}

// writeRunner puts runner.php where php can read it. It goes into the user's cache
// directory under a name made of its content's hash, shared by every worker of this
// version and never removed: a worker killed with SIGKILL cannot clean up, and a private
// directory per process would pile up. Without a usable cache directory it falls back to
// a private temporary directory, returned as tmp for Close to remove.
func writeRunner() (runner, tmp string, err error) {
	sum := sha256.Sum256(runnerPHP)
	name := "runner-" + hex.EncodeToString(sum[:6]) + ".php"
	if cache, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(cache, "goresque")
		path := filepath.Join(dir, name)
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, runnerPHP) {
			return path, "", nil
		}
		if os.MkdirAll(dir, 0o700) == nil {
			if f, err := os.CreateTemp(dir, name+".*"); err == nil {
				_, werr := f.Write(runnerPHP)
				cerr := f.Close()
				if werr == nil && cerr == nil && os.Rename(f.Name(), path) == nil {
					return path, "", nil
				}
				os.Remove(f.Name())
			}
		}
	}
	tmp, err = os.MkdirTemp("", "goresque-php-")
	if err != nil {
		return "", "", err
	}
	runner = filepath.Join(tmp, "runner.php")
	if err := os.WriteFile(runner, runnerPHP, 0o600); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return runner, tmp, nil
}

// Config returns the configuration in use, defaults filled in.
func (p *PHP) Config() Config { return p.cfg }

// Check loads the application once, as a job process would, and returns an error wrapping
// ErrAppInclude, with PHP's own message, when that fails (a missing APP_INCLUDE, a parse
// error, an exception during bootstrap). The process it starts exits at once: warm
// processes start with the first PHP job, so a worker whose jobs all have Go handlers runs
// no php at all.
func (p *PHP) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pr, err := p.start(ctx, runCheck)
	if err != nil {
		return err
	}
	p.stop(pr)
	return nil
}

// Close stops the warm processes and removes the runner's directory.
func (p *PHP) Close() error {
	p.mu.Lock()
	if !p.closed {
		close(p.quit)
	}
	p.closed = true
	var procs []*proc
	for pr := range p.live {
		procs = append(procs, pr)
	}
	p.mu.Unlock()
	for _, pr := range procs {
		p.stop(pr)
	}
	if p.dir == "" {
		return nil
	}
	return os.RemoveAll(p.dir)
}

// Perform runs job as its PHP class; see the package documentation for the outcomes.
func (p *PHP) Perform(ctx context.Context, job *resque.Job) error {
	log := zerolog.Ctx(ctx)
	if log.GetLevel() == zerolog.Disabled {
		l := p.log.With().Str("class", job.Class).Str("job_id", job.ID).Logger()
		log = &l
	}
	req, err := request(job)
	if err != nil {
		return err
	}
	// At most PoolSize PHP jobs at once; the time spent waiting for a turn is not the
	// job's (Timeout starts after it).
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		return abnormal(ctx)
	}
	if p.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, p.cfg.Timeout, fmt.Errorf("timed out after %v", p.cfg.Timeout))
		defer cancel()
	}
	if p.cfg.Mode == ModePerJob {
		pr, err := p.start(ctx, runOnce)
		if err != nil {
			return err
		}
		return p.run(ctx, pr, req, job, log)
	}
	pr, err := p.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil { // killed (timeout, SIGUSR1, SIGTERM) while php started
			return abnormal(ctx)
		}
		return err
	}
	return p.run(ctx, pr, req, job, log)
}

// abnormal is the outcome of a job ended by ctx (a timeout, SIGUSR1, SIGTERM), as
// php-resque records a child it killed.
func abnormal(ctx context.Context) error {
	cause := context.Cause(ctx)
	return resque.DirtyExit("Job exited abnormally: "+cause.Error(), cause)
}

// request is the message the runner reads: the payload exactly as taken from the queue.
func request(job *resque.Job) ([]byte, error) {
	q, _ := json.Marshal(job.Queue)
	w, _ := json.Marshal(job.Worker)
	payload := job.Payload()
	if !json.Valid(payload) {
		return nil, fmt.Errorf("compat: payload of %s is not JSON", job.Class)
	}
	b := make([]byte, 0, len(payload)+len(q)+len(w)+40)
	b = append(b, `{"queue":`...)
	b = append(b, q...)
	b = append(b, `,"worker":`...)
	b = append(b, w...)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	return append(b, '}'), nil
}

// reply is a message from the runner.
type reply struct {
	Ready       bool            `json:"ready"`
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	DontPerform bool            `json:"dontPerform"`
	Exception   string          `json:"exception"`
	Message     string          `json:"message"`
	Backtrace   []string        `json:"backtrace"`
	Dirty       *int            `json:"dirty"`
	Child       int             `json:"child"`
	Mem         int64           `json:"mem"`
}

// runMode is what a runner process is started for: runner.php's first argument.
type runMode int

const (
	runCheck runMode = iota // load the application once, report, exit (Check)
	runOnce                 // run the one job read from stdin, then exit (ModePerJob)
	runPool                 // load once, run jobs from stdin until it closes (ModePool)
)

func (m runMode) String() string {
	switch m {
	case runCheck:
		return "check"
	case runOnce:
		return "once"
	}
	return "pool"
}

// proc is one php process.
type proc struct {
	mode      runMode
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	replies   chan reply
	done      chan struct{} // closed when the process has exited
	exit      error         // cmd.Wait's result, valid after done
	started   time.Time
	idleSince time.Time // when it last went idle (ModePool)
	jobs      int
	out       *output
	marks     int64        // end marks the output shows after the last job (see output)
	child     atomic.Int64 // pid of the forked child running a job
}

// start starts a runner process in mode and waits for it to be ready (runCheck, runPool),
// or returns at once (runOnce).
func (p *PHP) start(ctx context.Context, mode runMode) (*proc, error) {
	args := append(append([]string{}, p.cfg.Args...), p.runner, mode.String())
	cmd := exec.Command(p.cfg.Binary, args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.Env = append(cmd.Env,
		"APP_INCLUDE="+p.cfg.AppInclude,
		"GORESQUE_DIALECT="+p.cfg.Dialect.String(),
		"GORESQUE_ISOLATION="+p.cfg.Isolation.String(),
		"GORESQUE_OUTPUT_MARK="+string(p.mark))
	cmd.SysProcAttr = procAttr()
	rr, rw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("compat: %w", err)
	}
	cmd.ExtraFiles = []*os.File{rw} // file descriptor 3
	stdin, err := cmd.StdinPipe()
	if err != nil {
		rr.Close()
		rw.Close()
		return nil, fmt.Errorf("compat: %w", err)
	}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	pr := &proc{mode: mode, cmd: cmd, stdin: stdin, replies: make(chan reply, 4), done: make(chan struct{}), started: time.Now()}
	pr.out = newOutput(p.mark, &p.log, mode != runOnce)
	if err := cmd.Start(); err != nil {
		rr.Close()
		rw.Close()
		return nil, fmt.Errorf("compat: start php: %w", err)
	}
	rw.Close()
	pr.out.follow(cmd.Process.Pid, stdout, stderr)
	go func() {
		defer rr.Close()
		br := bufio.NewReader(rr)
		for {
			msg, err := readFrame(br)
			if err != nil {
				close(pr.replies)
				return
			}
			if p.cfg.Debug {
				p.log.Debug().Int("php_pid", cmd.Process.Pid).Bytes("reply", msg).Msg("php protocol")
			}
			var r reply
			if err := json.Unmarshal(msg, &r); err != nil {
				p.log.Error().Err(err).Bytes("reply", msg).Msg("unreadable reply from the PHP runner")
				continue
			}
			pr.replies <- r
		}
	}()
	go func() {
		<-pr.out.ended // read all output before Wait closes the pipes
		pr.exit = cmd.Wait()
		close(pr.done)
	}()
	p.mu.Lock()
	p.live[pr] = true
	p.mu.Unlock()
	if mode == runOnce {
		return pr, nil
	}
	select {
	case r, ok := <-pr.replies:
		if ok && r.Ready {
			pr.marks = 1 // start-up output ends with a mark too
			pr.out.await(pr.marks)
			return pr, nil
		}
	case <-ctx.Done():
		p.stop(pr)
		return nil, fmt.Errorf("compat: PHP start-up: %w", context.Cause(ctx))
	}
	<-pr.done
	p.forget(pr)
	msg := strings.TrimSpace(pr.out.startupOutput())
	if msg == "" {
		msg = describeExit(pr.exit)
	}
	return nil, fmt.Errorf("%w (APP_INCLUDE=%q): %s", ErrAppInclude, p.cfg.AppInclude, msg)
}

func readFrame(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad frame length %q", line)
	}
	msg := make([]byte, n)
	_, err = io.ReadFull(br, msg)
	return msg, err
}

func writeFrame(w io.Writer, msg []byte) error {
	b := make([]byte, 0, len(msg)+12)
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, '\n')
	b = append(b, msg...)
	_, err := w.Write(b)
	return err
}

// run sends req to pr and waits for the outcome, killing the job if ctx ends first.
func (p *PHP) run(ctx context.Context, pr *proc, req []byte, job *resque.Job, log *zerolog.Logger) (err error) {
	once := pr.mode == runOnce
	// The job's output is logged with its id, up to the job's end marks.
	pr.out.log.Store(log)
	pr.jobs++
	pr.marks++
	defer func() {
		pr.out.await(pr.marks)
		if once {
			p.stop(pr)
			return
		}
		p.release(pr)
	}()
	if p.cfg.Debug {
		log.Debug().Int("php_pid", pr.cmd.Process.Pid).Bytes("request", req).Msg("php protocol")
	}
	if err := writeFrame(pr.stdin, req); err != nil {
		return p.died(pr, job, err)
	}
	if once {
		pr.stdin.Close()
	}
	for {
		select {
		case r, ok := <-pr.replies:
			if !ok {
				return p.died(pr, job, nil)
			}
			if r.Child > 0 {
				pr.child.Store(int64(r.Child))
				continue
			}
			pr.child.Store(0)
			if once {
				// The process's exit counts, as php-resque reads its child's exit status
				// after perform(): a fatal error in a destructor or a shutdown function
				// makes the job a dirty exit.
				select {
				case <-pr.done:
					if pr.exit != nil {
						return p.died(pr, job, nil)
					}
				case <-ctx.Done():
					return p.kill(ctx, pr, job)
				}
			}
			return outcome(r, job)
		case <-ctx.Done():
			return p.kill(ctx, pr, job)
		}
	}
}

// outcome maps a reply onto what the worker records.
func outcome(r reply, job *resque.Job) error {
	switch {
	case r.OK:
		if len(r.Result) > 0 {
			job.SetResult(r.Result)
		}
		return nil
	case r.DontPerform:
		return resque.ErrDontPerform
	case r.Exception != "":
		return &resque.JobError{Exception: r.Exception, Message: r.Message, Backtrace: r.Backtrace}
	case r.Dirty != nil:
		return dirty(*r.Dirty)
	}
	return resque.DirtyExit("Job exited abnormally: the PHP runner sent no outcome", nil)
}

// dirty is php-resque's record of a child that exited without an outcome: exit code n, or
// killed by signal -n.
func dirty(n int) error {
	if n < 0 {
		return resque.DirtyExit("Job exited abnormally", fmt.Errorf("killed by signal %d", -n))
	}
	return resque.DirtyExit("Job exited with exit code "+strconv.Itoa(n), nil)
}

// died maps a process that ended before replying: its exit code, as php-resque reads its
// child's (exit 0 counts as success, as there), or the signal that killed it.
func (p *PHP) died(pr *proc, job *resque.Job, werr error) error {
	<-pr.done
	var ee *exec.ExitError
	if errors.As(pr.exit, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return dirty(-int(ws.Signal()))
		}
		return dirty(ee.ExitCode())
	}
	if pr.exit == nil {
		return nil // exit(0) inside perform(): a success for php-resque
	}
	return resque.DirtyExit("Job exited abnormally", errors.Join(pr.exit, werr))
}

// kill stops the running job when ctx ends (timeout, SIGUSR1, SIGTERM): the forked child's
// group in fork isolation (the warm process survives), else the whole process group.
// SIGTERM first, SIGKILL after KillGrace.
func (p *PHP) kill(ctx context.Context, pr *proc, job *resque.Job) error {
	target := pr.cmd.Process.Pid
	if c := pr.child.Load(); c > 0 {
		target = int(c)
	}
	killGroup(target, syscall.SIGTERM)
	grace := time.NewTimer(p.cfg.KillGrace)
	defer grace.Stop()
	for {
		select {
		case r, ok := <-pr.replies:
			if !ok {
				<-pr.done
				return abnormal(ctx)
			}
			if r.Child > 0 {
				continue
			}
			pr.child.Store(0)
			return abnormal(ctx)
		case <-pr.done:
			return abnormal(ctx)
		case <-grace.C:
			killGroup(target, syscall.SIGKILL)
		}
	}
}

func killGroup(pid int, sig syscall.Signal) {
	if syscall.Kill(-pid, sig) != nil {
		_ = syscall.Kill(pid, sig)
	}
}

func describeExit(err error) string {
	if err == nil {
		return "php exited before it was ready"
	}
	return "php: " + err.Error()
}
