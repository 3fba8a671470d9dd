package resque

// Interop with real Ruby resque 2.7.0 (../shared/thirdparty/ruby-resque) and resque-web
// (Resque::Server under Rack/WEBrick) on one Redis and host with goresque: Ruby enqueues
// for goresque and goresque for a Ruby worker; Ruby's Resque.workers/working/info and
// Resque::Failure.all/requeue read goresque's records; a Ruby worker starting (and pruning)
// leaves the live goresque worker alone and goresque's prune leaves the Ruby worker alone;
// resque-web's pages show goresque's data.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/interop"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

type rubyResque struct {
	t      *testing.T
	lib    string
	script string
	url    string
}

func (r *rubyResque) cmd(action string, args ...string) *exec.Cmd {
	return exec.Command("ruby", append([]string{"-I" + r.lib, r.script, r.url, action}, args...)...)
}

func (r *rubyResque) run(v any, action string, args ...string) {
	r.t.Helper()
	out := interop.Run(r.t, r.cmd(action, args...))
	if err := json.Unmarshal(out, v); err != nil {
		r.t.Fatalf("ruby %s: %v: %s", action, err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInteropRubyResque(t *testing.T) {
	t.Parallel()
	lib := interop.RubyLib(t)
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	ruby := &rubyResque{t: t, lib: lib, script: filepath.Join(interop.Root(t), "testdata", "interop", "ruby_client.rb"),
		url: "redis://127.0.0.1:" + strconv.Itoa(srv.Port) + "/0"}
	keys := NewKeys("resque:") // Ruby resque's default namespace
	client := NewClient(pool, ClientConfig{Namespace: "resque:", Dialect: DialectPHPResque1})
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseJob := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseJob()
	running := make(chan string, 1)
	mux := NewMux()
	mux.HandleFunc("GoJob", func(ctx context.Context, j *Job) error {
		running <- strconv.FormatInt(j.Int("n"), 10) + " " + j.String("s")
		<-release
		return nil
	})
	mux.HandleFunc("GoFail", func(ctx context.Context, j *Job) error {
		return &JobError{Exception: "App::Declined", Message: "declined / ü"}
	})
	w, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"go"}, Interval: 50 * time.Millisecond,
		Hostname: host, HeartbeatInterval: time.Second, Handler: mux, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	defer func() {
		releaseJob()
		w.Shutdown()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	id := w.IDs()[0]

	// Ruby enqueues, goresque performs.
	var null any
	ruby.run(&null, "enqueue", "go", "GoJob", `[{"n":7,"s":"a/ü"}]`)
	select {
	case args := <-running:
		if args != "7 a/ü" {
			t.Errorf("GoJob args %s", args)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("goresque did not perform Ruby's job")
	}

	// Resque.workers / working / info and the job of the busy worker.
	var info struct {
		Info       map[string]any            `json:"info"`
		Workers    []string                  `json:"workers"`
		Working    []string                  `json:"working"`
		Jobs       map[string]map[string]any `json:"jobs"`
		Heartbeats map[string]string         `json:"heartbeats"`
	}
	ruby.run(&info, "info")
	if !contains(info.Workers, id) || !contains(info.Working, id) || info.Info["working"] != float64(1) || info.Heartbeats[id] == "" {
		t.Errorf("Ruby's view: %+v", info)
	}
	if job := info.Jobs[id]; job["queue"] != "go" || job["payload"].(map[string]any)["class"] != "GoJob" {
		t.Errorf("Ruby's Worker#job of %s: %v", id, job)
	}

	// A Ruby worker starts on this host: its prune leaves goresque's busy worker alone
	// (heartbeat at Redis time, other queues), and goresque's leaves it alone.
	rw := interop.Start(t, ruby.cmd("worker", "ruby"))
	var rubyID string
	waitUntil(t, "the Ruby worker to register", 20*time.Second, func() bool {
		ids, _ := redis.Strings(conn.Do("SMEMBERS", keys.Workers()))
		for _, x := range ids {
			if strings.HasSuffix(x, ":ruby") {
				rubyID = x
			}
		}
		return rubyID != ""
	})
	if n, _ := redis.Int(conn.Do("EXISTS", keys.Worker(id))); n != 1 {
		t.Fatalf("the Ruby worker's prune settled goresque's running job:\n%s", rw.Output())
	}
	if n, _ := redis.Int(conn.Do("SISMEMBER", keys.Workers(), id)); n != 1 {
		t.Fatalf("the Ruby worker's prune unregistered goresque's worker")
	}
	w2, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"other"}, Hostname: host, Handler: NewMux(),
		Logger: zerolog.New(zerolog.NewTestWriter(t)), pid: deadPID(t)}) // another goresque process
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w2.pruneDeadWorkers(context.Background(), conn, nil); err != nil || n != 0 {
		t.Errorf("goresque's prune beside a live Ruby worker: pruned %d, %v", n, err)
	}

	// goresque enqueues, the Ruby worker performs.
	if _, err := client.Enqueue(context.Background(), "ruby", "RubyJob", map[string]any{"x": "ü/1"}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the Ruby worker to perform goresque's job", 20*time.Second, func() bool {
		v, _ := redis.Strings(conn.Do("LRANGE", "resque:ruby-performed", 0, -1))
		return len(v) == 1 && v[0] == `[{"x":"ü/1"}]`
	})

	// Failures: Resque::Failure.all reads goresque's record; requeue runs it again.
	releaseJob()
	ruby.run(&null, "enqueue", "go", "GoFail", `[1]`)
	waitUntil(t, "the failure", 15*time.Second, func() bool {
		n, _ := redis.Int(conn.Do("LLEN", keys.Failed()))
		return n == 1
	})
	var failed []map[string]any
	ruby.run(&failed, "failed")
	if len(failed) != 1 || failed[0]["exception"] != "App::Declined" || failed[0]["error"] != "declined / ü" ||
		failed[0]["worker"] != id || failed[0]["queue"] != "go" || failed[0]["payload"].(map[string]any)["class"] != "GoFail" {
		t.Errorf("Resque::Failure.all = %v", failed)
	}
	ruby.run(&null, "requeue", "0")
	waitUntil(t, "the requeued job to fail again", 15*time.Second, func() bool {
		n, _ := redis.Int(conn.Do("LLEN", keys.Failed()))
		return n == 2
	})
	ruby.run(&failed, "failed")
	if len(failed) != 2 || failed[0]["retried_at"] == nil {
		t.Errorf("after Resque::Failure.requeue(0): %v", failed)
	}

	// resque-web shows goresque's data.
	port := freePort(t)
	interop.Start(t, ruby.cmd("web", strconv.Itoa(port)))
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitUntil(t, "resque-web to listen", 20*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if _, err := client.Enqueue(context.Background(), "pending", "GoPending", map[string]any{"k": 1}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	for page, want := range map[string]string{
		"/overview": "queues/pending", "/workers": id, "/failed": "App::Declined", "/queues/pending": "GoPending",
	} {
		body, code := httpGet(t, base+page)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("resque-web %s: %d, contains %q: %v", page, code, want, strings.Contains(body, want))
		}
	}
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			t.Fatalf("GET %s: %v", url, err)
		}
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Issue 8 item 4 with real Ruby resque: Ruby's heartbeat prune records a dead goresque
// worker's job as Resque::PruneDeadWorkerDirtyExit and deletes its registration; goresque's
// next prune finds the job in goresque:inflight and does not record it a second time.
func TestInteropRubyPruneSettlesOnce(t *testing.T) {
	t.Parallel()
	lib := interop.RubyLib(t)
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	ruby := &rubyResque{t: t, lib: lib, script: filepath.Join(interop.Root(t), "testdata", "interop", "ruby_client.rb"),
		url: "redis://127.0.0.1:" + strconv.Itoa(srv.Port) + "/0"}
	keys := NewKeys("resque:")
	client := NewClient(pool, ClientConfig{Namespace: "resque:", Dialect: DialectPHPResque1})

	// A goresque worker on another host that stops beating (HeartbeatInterval 1h) while it
	// holds a job: dead, as far as anyone can tell.
	release, running := make(chan struct{}), make(chan string, 1)
	dead, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"gx"}, Interval: 50 * time.Millisecond, Hostname: "deadhost",
		HeartbeatInterval: time.Hour, Handler: blockingMux(release, running), Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dead.Run(context.Background()) }()
	defer func() { close(release); dead.Shutdown(); <-done }()
	if _, err := client.Enqueue(context.Background(), "gx", "Block", map[string]any{"path": "a/b", "u": "ü"}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	<-running
	time.Sleep(2100 * time.Millisecond) // its heartbeat is older than Ruby's prune interval (1 s)

	cmd := ruby.cmd("worker", "ruby")
	cmd.Env = append(os.Environ(), "RESQUE_PRUNE_INTERVAL=1")
	interop.Start(t, cmd)
	deadID := dead.IDs()[0]
	waitUntil(t, "Ruby's prune (failure recorded, then registration and heartbeat deleted)", 20*time.Second, func() bool {
		n, _ := redis.Int(conn.Do("LLEN", keys.Failed()))
		r, _ := redis.Int(conn.Do("SISMEMBER", keys.Workers(), deadID))
		h, _ := redis.Int(conn.Do("HEXISTS", keys.Heartbeats(), deadID))
		return n == 1 && r == 0 && h == 0
	})
	pruner, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"other"}, Hostname: "pruner", Handler: NewMux(),
		Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := redis.Int(conn.Do("GET", keys.Stat("failed")))
	// Ruby keeps its prune lock until it expires (heartbeat_interval, 60 s); goresque's
	// prune skips while it is held. Expire it now.
	if _, err := conn.Do("DEL", keys.PruneLock()); err != nil {
		t.Fatal(err)
	}
	if n, err := pruner.pruneDeadWorkers(context.Background(), conn, nil); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the dead worker's in-flight record settled", n, err)
	}
	f, _ := redis.Strings(conn.Do("LRANGE", keys.Failed(), 0, -1))
	if len(f) != 1 || !strings.Contains(f[0], "Resque::PruneDeadWorkerDirtyExit") {
		t.Errorf("failed = %q; want Ruby's record only", f)
	}
	if n, _ := redis.Int(conn.Do("GET", keys.Stat("failed"))); n != before {
		t.Errorf("stat:failed = %d, want %d as Ruby left it", n, before)
	}
	if n, _ := redis.Int(conn.Do("HLEN", keys.InFlight())); n != 0 {
		t.Error("the in-flight record is left behind")
	}
}
