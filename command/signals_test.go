package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// program is a goresque process started from the test binary (see TestMain).
type program struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	prefix string
	pool   *redis.Pool
	client *resque.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newProgram(t *testing.T) *program {
	t.Helper()
	srv := server(t)
	prefix := strings.TrimSuffix(redistest.Namespace(t), ":")
	pool := srv.Pool()
	t.Cleanup(func() { pool.Close() })
	return &program{t: t, prefix: prefix, pool: pool, client: resque.NewClient(pool, resque.ClientConfig{Namespace: prefix, Dialect: resque.DialectPHPResque136})}
}

func (p *program) start(env ...string) {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "work")
	cmd.Env = append(os.Environ(), childEnv+"=1", "REDIS_BACKEND="+server(p.t).Socket, "PREFIX="+p.prefix,
		"INTERVAL=0.1", "VERBOSE=1", "GORESQUE_LOG_FORMAT=json",
		// A -race binary sleeps 1 s at exit by default; exit times are measured here.
		"GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	p.out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()
	p.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if p.t.Failed() {
			p.t.Logf("program output:\n%s", p.out.String())
		}
	})
}

func (p *program) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the program to exit and returns its exit code.
func (p *program) wait(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		p.t.Fatalf("program did not exit within %v", limit)
		return -1
	}
}

func (p *program) conn() redis.Conn {
	c := p.pool.Get()
	p.t.Cleanup(func() { c.Close() })
	return c
}

func (p *program) key(k string) string { return p.prefix + ":" + k }

func (p *program) waitFor(what string, limit time.Duration, cond func(c redis.Conn) bool) {
	p.t.Helper()
	c := p.conn()
	deadline := time.Now().Add(limit)
	for !cond(c) {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *program) workers() []string {
	c := p.conn()
	ids, err := redis.Strings(c.Do("SMEMBERS", p.key("workers")))
	if err != nil {
		p.t.Fatal(err)
	}
	return ids
}

func (p *program) waitWorkers(n int) []string {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%d registered workers", n), 10*time.Second, func(c redis.Conn) bool {
		ids, _ := redis.Strings(c.Do("SMEMBERS", p.key("workers")))
		return len(ids) == n
	})
	return p.workers()
}

func (p *program) waitBusy(id string) {
	p.t.Helper()
	p.waitFor("worker "+id+" busy", 10*time.Second, func(c redis.Conn) bool {
		n, _ := redis.Int(c.Do("EXISTS", p.key("worker:"+id)))
		return n == 1
	})
}

func (p *program) enqueue(class string, args any) string {
	p.t.Helper()
	id, err := p.client.Enqueue(context.Background(), "default", class, args, resque.EnqueueOptions{Track: true})
	if err != nil {
		p.t.Fatal(err)
	}
	return id
}

func (p *program) status(id string) resque.JobStatus {
	p.t.Helper()
	st, err := p.client.Status(context.Background(), id, "")
	if err != nil {
		p.t.Fatalf("status %s: %v", id, err)
	}
	return st
}

func (p *program) failed() []map[string]any {
	c := p.conn()
	vals, _ := redis.ByteSlices(c.Do("LRANGE", p.key("failed"), 0, -1))
	var out []map[string]any
	for _, v := range vals {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			p.t.Fatalf("failed entry: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func TestSignalQuitFinishesTheJob(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	id := p.enqueue("Test_Sleep", map[string]any{"seconds": 0.7})
	p.start("QUEUE=default")
	w := p.waitWorkers(1)[0]
	p.waitBusy(w)
	p.signal(syscall.SIGQUIT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if st := p.status(id); st.Status != resque.StatusComplete || string(st.Result) != `"slept"` {
		t.Errorf("status %+v, want complete with result slept", st)
	}
	if ws := p.workers(); len(ws) != 0 {
		t.Errorf("still registered: %v", ws)
	}
}

func TestSignalTermFailsTheJobAndStops(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	id := p.enqueue("Test_Sleep", map[string]any{"seconds": 60})
	p.start("QUEUE=default")
	w := p.waitWorkers(1)[0]
	p.waitBusy(w)
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("TERM took %v to stop the worker", d)
	}
	if st := p.status(id); st.Status != resque.StatusFailed {
		t.Errorf("status %v, want failed", st.Status)
	}
	f := p.failed()
	if len(f) != 1 || f[0]["exception"] != resque.ExceptionDirtyExit || !strings.Contains(f[0]["error"].(string), "SIGTERM") {
		t.Errorf("failed = %v", f)
	}
	if ws := p.workers(); len(ws) != 0 {
		t.Errorf("still registered: %v", ws)
	}
}

func TestSignalUsr1KillsOnlyTheJob(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	long := p.enqueue("Test_Sleep", map[string]any{"seconds": 60})
	next := p.enqueue("Test_Ok", nil)
	p.start("QUEUE=default")
	w := p.waitWorkers(1)[0]
	p.waitBusy(w)
	p.signal(syscall.SIGUSR1)
	p.waitFor("next job done", 10*time.Second, func(c redis.Conn) bool {
		n, _ := redis.Int(c.Do("GET", p.key("stat:processed")))
		return n == 2
	})
	if st := p.status(long); st.Status != resque.StatusFailed {
		t.Errorf("killed job: status %v, want failed", st.Status)
	}
	if st := p.status(next); st.Status != resque.StatusComplete {
		t.Errorf("next job: status %v, want complete", st.Status)
	}
	if f := p.failed(); len(f) != 1 || f[0]["exception"] != resque.ExceptionDirtyExit || !strings.Contains(f[0]["error"].(string), "SIGUSR1") {
		t.Errorf("failed = %v", f)
	}
	p.signal(syscall.SIGQUIT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestSignalPauseAndResume(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	p.start("QUEUE=default")
	p.waitWorkers(1)
	p.signal(syscall.SIGUSR2)
	p.waitFor("paused log line", 5*time.Second, func(redis.Conn) bool { return strings.Contains(p.out.String(), "paused") })
	id := p.enqueue("Test_Ok", nil)
	time.Sleep(400 * time.Millisecond)
	if st := p.status(id); st.Status != resque.StatusWaiting {
		t.Fatalf("paused worker took the job: status %v", st.Status)
	}
	p.signal(syscall.SIGCONT)
	p.waitFor("job done after CONT", 5*time.Second, func(redis.Conn) bool {
		st, err := p.client.Status(context.Background(), id, "")
		return err == nil && st.Status == resque.StatusComplete
	})
	p.signal(syscall.SIGQUIT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestCount checks COUNT=2: two worker processes under one parent, each registered with
// its own live pid; a crashed worker is restarted (and its registration pruned); QUIT to
// the parent stops them all.
func TestCount(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	p.start("QUEUE=default", "COUNT=2")
	ids := p.waitWorkers(2)
	pids := map[int]bool{}
	for _, id := range ids {
		parts := strings.SplitN(id, ":", 3)
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == p.cmd.Process.Pid {
			t.Fatalf("worker id %s: want a child's pid", id)
		}
		pids[pid] = true
		if !phpSeesAlive(t, pid) {
			t.Errorf("php-resque's prune would remove live worker %s", id)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("worker ids %v: want two processes", ids)
	}
	// Kill one worker: the parent starts another, which prunes the dead registration.
	var victim int
	for pid := range pids {
		victim = pid
		break
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitFor("a replacement worker", 15*time.Second, func(c redis.Conn) bool {
		ids, _ := redis.Strings(c.Do("SMEMBERS", p.key("workers")))
		if len(ids) != 2 {
			return false
		}
		for _, id := range ids {
			if strings.Contains(id, ":"+strconv.Itoa(victim)+":") {
				return false
			}
		}
		return true
	})
	p.signal(syscall.SIGQUIT)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if ws := p.workers(); len(ws) != 0 {
		t.Errorf("still registered: %v", ws)
	}
}

// phpSeesAlive runs php-resque's own liveness test for a worker pid
// (Resque_Worker::workerPids: `ps -A -o pid,command | grep [r]esque`).
func phpSeesAlive(t *testing.T, pid int) bool {
	t.Helper()
	if _, err := exec.LookPath("php"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("php not found under CI=true")
		}
		t.Skip("php not found")
	}
	code := `exec('ps -A -o pid,command | grep [r]esque', $out);
$pids = array();
foreach ($out as $line) { list($pids[],) = explode(' ', trim($line), 2); }
echo in_array($argv[1], $pids) ? "alive" : "dead";`
	out, err := exec.Command("php", "-r", code, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v: %s", err, out)
	}
	return string(out) == "alive"
}

// rubySeesAlive runs Ruby resque 2.7.0's own Resque::Worker#linux_worker_pids.
func rubySeesAlive(t *testing.T, pid int) bool {
	t.Helper()
	lib, err := filepath.Abs(filepath.Join("..", "..", "shared", "thirdparty", "ruby-resque", "lib"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lib); err != nil {
		lib, _ = filepath.Abs(filepath.Join("..", "..", "..", "shared", "thirdparty", "ruby-resque", "lib"))
	}
	code := `require "resque"; puts(Resque::Worker.new("q").send(:linux_worker_pids).include?(ARGV[0]) ? "alive" : "dead")`
	out, err := exec.Command("ruby", "-I"+lib, "-e", code, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		t.Fatalf("ruby: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out)) == "alive"
}

func TestPruneKeepsLiveGoresqueFromPHPsView(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	p.start("QUEUE=default")
	id := p.waitWorkers(1)[0]
	pid, _ := strconv.Atoi(strings.SplitN(id, ":", 3)[1])
	if pid != p.cmd.Process.Pid {
		// The test binary's name has no "resque": goresque re-executed itself with
		// "(goresque:work)" in argv[0]; the pid stays the same across exec.
		t.Fatalf("worker pid %d, process %d", pid, p.cmd.Process.Pid)
	}
	if !phpSeesAlive(t, pid) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Fatalf("php-resque would prune live worker %s (cmdline %q)", id, cmdline)
	}
	if !rubySeesAlive(t, pid) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Fatalf("Ruby resque would prune live worker %s (cmdline %q)", id, cmdline)
	}
	p.signal(syscall.SIGQUIT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
