package resque

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

// outageRedis is a redis-server of one test on a fixed unix socket, with an append-only
// file synced on every write, so that it can be killed (SIGKILL, as in a crash) and started
// again on the same path with every acknowledged write still there.
type outageRedis struct {
	t    *testing.T
	bin  string
	dir  string
	sock string
	cmd  *exec.Cmd
	done chan struct{}
}

func startOutageRedis(t *testing.T) *outageRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		redistest.Unavailable(t, err)
	}
	dir, err := os.MkdirTemp("", "ro") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	r := &outageRedis{t: t, bin: bin, dir: dir, sock: filepath.Join(dir, "r.sock")}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "redis.log")); err == nil {
				t.Logf("redis.log:\n%s", log)
			}
		}
		os.RemoveAll(dir)
	})
	r.start()
	return r
}

// start starts the server and waits until it answers PING.
func (r *outageRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin,
		"--port", "0", "--unixsocket", r.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--dir", r.dir, "--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log"))
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	r.done = done
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redis.Dial("unix", r.sock)
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not answer on %s: %v", r.sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill SIGKILLs the server (a crash: nothing is flushed beyond what was acknowledged) and
// waits for it to exit.
func (r *outageRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

// TestWorkerRedisOutage kills redis-server while a job runs, lets the job finish during
// the outage, and checks that the worker waits without spinning, writes the job's outcome
// exactly once when Redis is back, goes on working, and that Shutdown during an outage
// returns within its bound with the unwritten job left in flight for the next worker, which
// records it instead of losing it.
//
// Not parallel: it measures the CPU time of the whole test process during the outage.
func TestWorkerRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 15 s")
	}
	rs := startOutageRedis(t)
	var dials atomic.Int64
	pool := &redis.Pool{
		MaxIdle: 8,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			dials.Add(1)
			return redis.DialContext(ctx, "unix", rs.sock, redis.DialConnectTimeout(time.Second),
				redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
		},
	}
	defer pool.Close()
	// The test's own reads and writes, on connections checked before each use: they must
	// not meet a connection the outage broke.
	probe := &redis.Pool{
		MaxIdle: 2,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "unix", rs.sock, redis.DialConnectTimeout(time.Second))
		},
		TestOnBorrowContext: func(ctx context.Context, c redis.Conn, _ time.Time) error {
			_, err := c.Do("PING")
			return err
		},
	}
	defer probe.Close()
	ns := redistest.Namespace(t)
	keys := NewKeys(ns)
	client := NewClient(probe, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136})
	ctx := context.Background()

	var runs sync.Map // job id -> *atomic.Int32
	started := make(chan string, 8)
	release := make(chan struct{}, 8)
	mux := NewMux()
	// Outage_Job reports that it started, then waits to be released.
	mux.HandleFunc("Outage_Job", func(ctx context.Context, j *Job) error {
		n, _ := runs.LoadOrStore(j.ID, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		started <- j.ID
		select {
		case <-release:
			j.SetResult("done")
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	mux.HandleFunc("Quick_Job", func(ctx context.Context, j *Job) error { return nil })

	logs := &lockedBuffer{}
	cfg := Config{
		Namespace:   ns,
		Queues:      []string{"q"},
		Interval:    50 * time.Millisecond,
		Concurrency: 2, // one slot runs the job, the other polls an empty queue
		Handler:     mux,
		Logger:      zerolog.New(logs).Level(zerolog.DebugLevel),
		Hostname:    "outagehost",
	}
	defer func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	}()
	w, err := NewWorker(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			close(release)
			w.ShutdownNow(errors.New("test ended"))
			<-runErr
		}
	}()

	get := func(what string, f func(c redis.Conn) (any, error)) any {
		t.Helper()
		c := probe.Get()
		defer c.Close()
		v, err := f(c)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	statProcessed := func() int {
		return get("stat:processed", func(c redis.Conn) (any, error) {
			n, err := redis.Int(c.Do("GET", keys.Stat("processed")))
			if errors.Is(err, redis.ErrNil) {
				return 0, nil
			}
			return n, err
		}).(int)
	}
	waitStarted := func() string {
		t.Helper()
		select {
		case id := <-started:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("the job did not start")
			return ""
		}
	}
	waitStatus := func(id string, want Status, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			st, err := client.Status(ctx, id, "")
			if err == nil && st.Status == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s: status %+v (%v), want %v within %v", id, st, err, want, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Phase 1: Redis dies while the job runs; the job finishes during the outage.
	id1, err := client.Enqueue(ctx, "q", "Outage_Job", nil, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := waitStarted(); got != id1 {
		t.Fatalf("started %s, want %s", got, id1)
	}
	waitStatus(id1, StatusRunning, 5*time.Second)
	rs.kill()
	release <- struct{}{} // the handler returns while Redis is down

	// The worker must wait for Redis with backoff, not spin: CPU time and dial attempts
	// of this process over 2 s of outage stay near zero.
	const outage = 2 * time.Second
	cpu0, dials0, t0 := cpuTime(t), dials.Load(), time.Now()
	time.Sleep(outage)
	cpu, nDials, wall := cpuTime(t)-cpu0, dials.Load()-dials0, time.Since(t0)
	t.Logf("outage of %v: %v CPU (%.1f%%), %d dial attempts", wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds(), nDials)
	if cpu > wall/10 {
		t.Errorf("the worker used %v of CPU during %v of Redis outage: busy loop", cpu, wall)
	}
	if nDials > 60 {
		t.Errorf("%d dial attempts during %v of Redis outage: no backoff", nDials, wall)
	}

	rs.start() // same socket, same append-only file
	waitStatus(id1, StatusComplete, 15*time.Second)
	if n := statProcessed(); n != 1 {
		t.Errorf("stat:processed = %d after the outage, want 1", n)
	}
	c := probe.Get()
	if n, _ := redis.Int(c.Do("HLEN", keys.InFlight())); n != 0 {
		t.Errorf("%d in-flight records after the job's outcome was written", n)
	}
	if n, _ := redis.Int(c.Do("LLEN", keys.Failed())); n != 0 {
		t.Errorf("failed has %d records, want none", n)
	}
	for _, id := range w.IDs() {
		if n, _ := redis.Int(c.Do("EXISTS", keys.Worker(id))); n != 0 {
			t.Errorf("worker:%s still set after the job finished", id)
		}
		if n, _ := redis.Int(c.Do("SISMEMBER", keys.Workers(), id)); n != 1 {
			t.Errorf("worker %s not registered after the outage", id)
		}
	}
	c.Close()
	if n := strings.Count(logs.String(), "redis unreachable; retrying"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if !strings.Contains(logs.String(), "redis reachable again") {
		t.Error("the end of the outage was not logged")
	}

	// The worker goes on: a new job is done, and the first was not recorded twice.
	id2, err := client.Enqueue(ctx, "q", "Quick_Job", nil, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(id2, StatusComplete, 10*time.Second)
	if n := statProcessed(); n != 2 {
		t.Errorf("stat:processed = %d after a second job, want 2", n)
	}
	if n, _ := runs.Load(id1); n.(*atomic.Int32).Load() != 1 {
		t.Errorf("job %s ran %d times, want once", id1, n.(*atomic.Int32).Load())
	}

	// Phase 2: Shutdown (SIGQUIT) while Redis is down and a job's outcome is unwritten.
	id3, err := client.Enqueue(ctx, "q", "Outage_Job", nil, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := waitStarted(); got != id3 {
		t.Fatalf("started %s, want %s", got, id3)
	}
	waitStatus(id3, StatusRunning, 5*time.Second)
	rs.kill()
	w.Shutdown()
	release <- struct{}{}
	t0, cpu0 = time.Now(), cpuTime(t)
	select {
	case err := <-runErr:
		stopped = true
		took, cpu := time.Since(t0), cpuTime(t)-cpu0
		t.Logf("Shutdown with Redis down: Run returned after %v (%v CPU): %v", took.Round(time.Millisecond), cpu, err)
		if err == nil {
			t.Error("Run returned no error although the job's outcome could not be written")
		}
		if took > stopWriteTimeout+3*time.Second {
			t.Errorf("Run took %v to return after Shutdown with Redis down; bound %v", took, stopWriteTimeout)
		}
		if cpu > took/10 {
			t.Errorf("%v of CPU while stopping with Redis down for %v: busy loop", cpu, took)
		}
	case <-time.After(stopWriteTimeout + 10*time.Second):
		t.Fatalf("Run did not return within %v of Shutdown with Redis down", stopWriteTimeout+10*time.Second)
	}

	// Nothing is lost: the job's in-flight record survived, and the next worker on this host
	// (here the same pid, so the same ids) prunes the stale registration and records the job
	// as a dirty exit.
	rs.start()
	// A new process would have a new pool: the old one holds connections the outage broke.
	pool2 := &redis.Pool{
		MaxIdle: 8,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "unix", rs.sock, redis.DialConnectTimeout(time.Second))
		},
	}
	defer pool2.Close()
	w2, err := NewWorker(pool2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	run2 := make(chan error, 1)
	go func() { run2 <- w2.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := get("failed", func(c redis.Conn) (any, error) { return redis.Int(c.Do("LLEN", keys.Failed())) }).(int)
		if n > 0 {
			break
		}
		select {
		case err := <-run2:
			t.Fatalf("second worker: Run returned %v before recording the unwritten job", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the unwritten job was not recorded by the next worker")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w2.Shutdown()
	if err := <-run2; err != nil {
		t.Errorf("second worker: %v", err)
	}
	c = probe.Get()
	defer c.Close()
	recs, err := redis.ByteSlices(c.Do("LRANGE", keys.Failed(), 0, -1))
	if err != nil || len(recs) != 1 {
		t.Fatalf("failed = %q (%v), want one record", recs, err)
	}
	if !bytes.Contains(recs[0], []byte(`"exception":"`+ExceptionDirtyExit+`"`)) || !bytes.Contains(recs[0], []byte(id3)) {
		t.Errorf("failure record %s: want a dirty exit of job %s", recs[0], id3)
	}
	if n, _ := redis.Int(c.Do("HLEN", keys.InFlight())); n != 0 {
		t.Errorf("%d in-flight records left", n)
	}
	if n, _ := redis.Int(c.Do("SCARD", keys.Workers())); n != 0 {
		t.Errorf("%d workers still registered", n)
	}
	if n := statProcessed(); n != 3 {
		t.Errorf("stat:processed = %d, want 3 (two complete, one dirty exit)", n)
	}
}
