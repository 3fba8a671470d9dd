package command

// Tests of the operation commands: failed, dequeue, enqueue --at/--in, scheduler,
// work --scheduler, pause/resume, and status of a failed job. They run the command line
// in-process against the package's redis-server, each in its own namespace, one at a time
// (Run is not safe for concurrent use: urfave/cli writes package globals).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

type opCLI struct {
	t    *testing.T
	env  map[string]string
	ns   string
	conn redis.Conn
	pool *redis.Pool
}

func newOpCLI(t *testing.T) *opCLI {
	t.Helper()
	srv := server(t)
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	pool := srv.Pool()
	t.Cleanup(func() { pool.Close() })
	ns := redistest.Namespace(t)
	return &opCLI{t: t, ns: ns, conn: conn, pool: pool, env: map[string]string{
		"REDIS_BACKEND": srv.Socket, "PREFIX": strings.TrimSuffix(ns, ":"), "GORESQUE_DIALECT": "php-resque-1",
	}}
}

func (o *opCLI) lookup(k string) (string, bool) { v, ok := o.env[k]; return v, ok }

// run runs the command line and returns exit code, stdout and stderr.
func (o *opCLI) runCtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errb lockedBuffer
	code := Run(ctx, append([]string{"goresque"}, args...), &out, &errb, o.lookup, testMux())
	return code, out.String(), errb.String()
}

// lockedBuffer is a bytes.Buffer for several goroutines: a worker and its scheduler log
// to one stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (o *opCLI) ok(args ...string) string {
	o.t.Helper()
	code, out, errs := o.runCtx(context.Background(), args...)
	if code != 0 {
		o.t.Fatalf("goresque %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (o *opCLI) do(cmd string, args ...any) any {
	o.t.Helper()
	v, err := o.conn.Do(cmd, args...)
	if err != nil {
		o.t.Fatal(err)
	}
	return v
}

func (o *opCLI) list(key string) []string {
	o.t.Helper()
	v, err := redis.Strings(o.conn.Do("LRANGE", o.ns+key, 0, -1))
	if err != nil {
		o.t.Fatal(err)
	}
	return v
}

// phpFailure is a `failed` record as real php-resque 1.x wrote it (golden 09), with its
// payload's class, queue and message replaced.
func phpFailure(class, queue, msg string, n int) string {
	return fmt.Sprintf(`{"failed_at":"Thu Nov 26 21:19:58 UTC 2026","payload":{"class":"%s","args":[{"n":%d}],"id":"%032d","queue_time":1795727998.746454},"exception":"Exception","error":"%s","backtrace":["#0 \/app\/lib\/Resque\/Job.php(194): %s->perform()","#1 {main}"],"worker":"vm:7304:%s","queue":"%s"}`,
		class, n, n, msg, class, queue, queue)
}

func TestFailedCommand(t *testing.T) {
	o := newOpCLI(t)
	o.do("RPUSH", o.ns+"failed",
		phpFailure("Mail_Send", "mail", "smtp down", 0),
		phpFailure("Report_Build", "reports", `disk\nfull`, 1),
		phpFailure("Mail_Send", "mail", "bounce", 2))

	out := o.ok("failed", "list")
	for _, want := range []string{"INDEX", "0      2026-11-26 21:19:58  mail     Mail_Send", "Report_Build", "disk full", "Exception"} {
		if !strings.Contains(out, want) {
			t.Errorf("failed list lacks %q:\n%s", want, out)
		}
	}
	var js []map[string]any
	if err := json.Unmarshal([]byte(o.ok("failed", "list", "--class", "Mail_Send", "--json")), &js); err != nil || len(js) != 2 || js[1]["error"] != "bounce" || js[1]["index"] != 2.0 {
		t.Fatalf("failed list --class --json: %v %v", js, err)
	}
	if out := o.ok("failed", "list", "--limit", "1", "--queue", "mail"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "bounce") {
		t.Errorf("--limit 1 shows the newest one:\n%s", out)
	}
	out = o.ok("failed", "show", "1")
	for _, want := range []string{"class:      Report_Build", "message:    disk\nfull", "  #1 {main}", `"args":[{"n":1}]`} {
		if !strings.Contains(out, want) {
			t.Errorf("failed show lacks %q:\n%s", want, out)
		}
	}

	if out := o.ok("failed", "retry", "0", "--queue", "mail"); out != "retried 1\n" {
		t.Errorf("retry: %q", out)
	}
	if q := o.list("queue:mail"); len(q) != 1 || !strings.Contains(q[0], `"id":"00000000000000000000000000000000"`) {
		t.Errorf("queue after retry: %q", q)
	}
	if code, _, errs := o.runCtx(context.Background(), "failed", "retry", "1", "--queue", "mail"); code == 0 || !strings.Contains(errs, "does not match") {
		t.Errorf("retry of a record outside the filter: exit %d, %s", code, errs)
	}
	if out := o.ok("failed", "remove", "--all", "--class", "Mail_Send", "--json"); !strings.Contains(out, `"removed": 2`) {
		t.Errorf("remove --all --class: %s", out)
	}
	if f := o.list("failed"); len(f) != 1 || !strings.Contains(f[0], "Report_Build") {
		t.Errorf("left: %q", f)
	}
	for _, bad := range [][]string{{"failed"}, {"failed", "retry"}, {"failed", "retry", "1", "--all"}, {"failed", "show", "x"}, {"failed", "frob"}} {
		if code, _, _ := o.runCtx(context.Background(), bad...); code != exitUsage {
			t.Errorf("goresque %v: exit %d, want %d", bad, code, exitUsage)
		}
	}
}

// A bulk operation over many records is quiet when stderr is not a terminal.
func TestFailedRetryAllQuietOffTerminal(t *testing.T) {
	o := newOpCLI(t)
	args := []any{o.ns + "failed"}
	for i := 0; i < 2500; i++ {
		args = append(args, phpFailure("Bulk", "bulk", "x", i))
	}
	o.do("RPUSH", args...)
	code, out, errs := o.runCtx(context.Background(), "failed", "retry", "--all")
	if code != 0 || out != "retried 2500\n" || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if n, _ := redis.Int(o.do("LLEN", o.ns+"queue:bulk"), nil); n != 2500 {
		t.Errorf("%d jobs requeued", n)
	}
}

func TestStatusOfFailedJobShowsException(t *testing.T) {
	o := newOpCLI(t)
	client := resque.NewClient(o.pool, resque.ClientConfig{Namespace: o.ns, Dialect: resque.DialectPHPResque1})
	id, err := client.Enqueue(context.Background(), "default", "Test_Fail", nil, resque.EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := resque.NewWorker(o.pool, resque.Config{Namespace: o.ns, Queues: []string{"default"}, Interval: 50 * time.Millisecond,
		Handler: testMux(), Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := redis.Int(o.do("LLEN", o.ns+"failed"), nil); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job did not fail")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	out := o.ok("status", id)
	if !strings.Contains(out, "failed (3)") || !strings.Contains(out, "failed:   Exception at ") || !strings.Contains(out, "message:  test failure") {
		t.Errorf("status of a failed job:\n%s", out)
	}
	var js struct {
		Status  int `json:"status"`
		Failure struct {
			Exception, Error string
		} `json:"failure"`
	}
	if err := json.Unmarshal([]byte(o.ok("status", id, "--json")), &js); err != nil || js.Status != 3 || js.Failure.Error != "test failure" {
		t.Errorf("status --json: %+v %v", js, err)
	}
}

func TestDequeueCommand(t *testing.T) {
	o := newOpCLI(t)
	var ids []string
	for _, a := range []string{`{"n":1}`, `{"n":2}`, `{"n":1,"m":"x"}`} {
		ids = append(ids, strings.TrimSpace(o.ok("enqueue", "q", "Job_A", a)))
	}
	o.ok("enqueue", "q", "Job_B", `{"n":1}`)
	if out := o.ok("dequeue", "q", "Job_A", `{"n":1}`); out != "1\n" {
		t.Errorf("dequeue by args: %q", out)
	}
	if out := o.ok("dequeue", "q", "Job_A", "--id", ids[1]); out != "1\n" {
		t.Errorf("dequeue by id: %q", out)
	}
	if out := o.ok("dequeue", "q", "Job_A", "--json"); !strings.Contains(out, `"removed": 1`) {
		t.Errorf("dequeue by class: %q", out)
	}
	if q := o.list("queue:q"); len(q) != 1 || !strings.Contains(q[0], "Job_B") {
		t.Errorf("left: %q", q)
	}
	if code, _, _ := o.runCtx(context.Background(), "dequeue", "q", "Job_A", `"scalar"`); code != exitUsage {
		t.Errorf("scalar ARGS_JSON: exit %d", code)
	}
}

// enqueue --at/--in write php-resque-scheduler's format; `scheduler` moves due jobs and
// stops when its context ends; `work --scheduler` moves and performs them.
func TestDelayedCommands(t *testing.T) {
	o := newOpCLI(t)
	o.ok("enqueue", "--in", "1h", "later", "Test_Ok", `{"n":1}`)
	at := time.Now().Add(-time.Minute).Unix()
	out := o.ok("enqueue", "--at", fmt.Sprint(at), "now", "Test_Ok", `{"n":2}`)
	if !strings.Contains(out, fmt.Sprintf("(%d)", at)) {
		t.Errorf("enqueue --at prints %q", out)
	}
	o.ok("enqueue", "--at", time.Unix(at, 0).UTC().Format(time.RFC3339), "now", "Test_Ok", `{"n":3}`)
	if l := o.list(fmt.Sprintf("delayed:%d", at)); len(l) != 2 || l[0] != `{"class":"Test_Ok","args":[{"n":2}],"queue":"now"}` {
		t.Errorf("delayed list %q", l)
	}
	for _, bad := range [][]string{{"enqueue", "--in", "soon", "q", "C"}, {"enqueue", "--at", "tomorrow", "q", "C"}, {"enqueue", "--in", "1m", "--at", "1", "q", "C"}, {"enqueue", "--in", "1m", "--track", "q", "C"}} {
		if code, _, _ := o.runCtx(context.Background(), bad...); code != exitUsage {
			t.Errorf("goresque %v: exit %d, want %d", bad, code, exitUsage)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := o.runCtx(ctx, "scheduler", "--interval", "0.05")
		done <- code
	}()
	waitLen(t, o, "queue:now", 2)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("scheduler exit %d", code)
	}
	if q := o.list("queue:later"); len(q) != 0 {
		t.Errorf("a job due in an hour was moved: %q", q)
	}

	// work --scheduler: the worker moves the due job and performs it.
	o.ok("enqueue", "--in", "-1s", "ws", "Test_Ok", `{"n":4}`)
	ctx, cancel = context.WithCancel(context.Background())
	o.env["QUEUE"] = "ws"
	o.env["INTERVAL"] = "0.05"
	go func() {
		code, _, _ := o.runCtx(ctx, "work", "--scheduler")
		done <- code
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := redis.Int(o.do("GET", o.ns+"stat:processed"), nil); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("work --scheduler did not perform the delayed job")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func waitLen(t *testing.T, o *opCLI, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l, _ := redis.Int(o.do("LLEN", o.ns+key), nil); l >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d items", key, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPauseResumeCommands(t *testing.T) {
	o := newOpCLI(t)
	if out := o.ok("pause"); out != "paused\n" {
		t.Errorf("pause: %q", out)
	}
	if v, _ := redis.String(o.do("GET", o.ns+"pause-all-workers"), nil); v != "true" {
		t.Errorf("pause-all-workers = %q", v)
	}
	o.do("SADD", o.ns+"workers", "host:1:q")
	if out := o.ok("workers"); !strings.Contains(out, "host:1:q") || !strings.Contains(out, "paused (pause-all-workers") {
		t.Errorf("workers while paused:\n%s", out)
	}
	o.ok("resume")
	if n, _ := redis.Int(o.do("EXISTS", o.ns+"pause-all-workers"), nil); n != 0 {
		t.Error("resume left the key")
	}
}

// QUIT, TERM and INT stop `goresque scheduler` after the current pass, never in the middle
// of one: every job due when the signal came is moved.
func TestSchedulerSignalsStopAfterThePass(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			o := newOpCLI(t)
			client := resque.NewClient(o.pool, resque.ClientConfig{Namespace: o.ns, Dialect: resque.DialectPHPResque1})
			const jobs = 5000
			past := time.Now().Add(-time.Minute)
			for i := 0; i < jobs; i++ {
				if err := client.EnqueueAt(context.Background(), past.Add(time.Duration(i%20)*time.Second), "q", "J", map[string]any{"i": i}); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(os.Args[0], "scheduler", "--interval", "60")
			cmd.Env = append(os.Environ(), childEnv+"=1", "REDIS_BACKEND="+o.env["REDIS_BACKEND"], "PREFIX="+o.env["PREFIX"], "GORACE=atexit_sleep_ms=0")
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Kill()
				if t.Failed() {
					t.Logf("scheduler output:\n%s", out.String())
				}
			}()
			waitLen(t, o, "queue:q", 1)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("scheduler exited with %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("scheduler did not stop")
			}
			if n, _ := redis.Int(o.do("LLEN", o.ns+"queue:q"), nil); n != jobs {
				t.Errorf("%d of %d due jobs moved when it stopped: the pass was cut short", n, jobs)
			}
		})
	}
}

// openPTY returns a pseudo-terminal's two ends (Linux /dev/ptmx), to see what the command
// line draws on a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// On a terminal, a bulk operation draws a progress bar on stderr.
func TestFailedRemoveAllProgressOnTerminal(t *testing.T) {
	o := newOpCLI(t)
	args := []any{o.ns + "failed"}
	for i := 0; i < 2500; i++ {
		args = append(args, phpFailure("Bulk", "bulk", "x", i))
	}
	o.do("RPUSH", args...)
	master, slave := openPTY(t)
	got := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			b.Write(buf[:n])
			if err != nil || strings.Contains(b.String(), "2500/2500") {
				got <- b.String()
				return
			}
		}
	}()
	var out bytes.Buffer
	code := Run(context.Background(), []string{"goresque", "failed", "remove", "--all"}, &out, slave, o.lookup, testMux())
	if code != 0 || out.String() != "removed 2500\n" {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	select {
	case s := <-got:
		if !strings.Contains(s, "remove [") || !strings.Contains(s, "2500/2500") {
			t.Errorf("no progress bar on the terminal: %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing drawn on the terminal")
	}
}
