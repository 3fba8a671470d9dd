package resque

// Interop with real node-resque 9.7.1 (installed by scripts/setup.sh, see
// internal/interop.NodeResqueDir) on one Redis and host with goresque: node enqueues for
// goresque and goresque for a node worker; node's workers/failed/stats read goresque's
// records; goresque's prune leaves a live node worker ("node node_client.js", no "resque"
// in its command line) and its running job alone.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/interop"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

type nodeResque struct {
	t                     *testing.T
	modules, script, port string
}

func (n *nodeResque) cmd(action string, args ...string) *exec.Cmd {
	c := exec.Command("node", append([]string{n.script, n.port, action}, args...)...)
	c.Env = append(os.Environ(), "NODE_PATH="+n.modules)
	return c
}

func (n *nodeResque) run(v any, action string, args ...string) {
	n.t.Helper()
	out := interop.Run(n.t, n.cmd(action, args...))
	if err := json.Unmarshal(out, v); err != nil {
		n.t.Fatalf("node %s: %v: %s", action, err, out)
	}
}

func TestInteropNodeResque(t *testing.T) {
	t.Parallel()
	modules := interop.NodeModules(t)
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	node := &nodeResque{t: t, modules: modules, script: filepath.Join(interop.Root(t), "testdata", "interop", "node_client.js"), port: strconv.Itoa(srv.Port)}
	keys := NewKeys("resque:")
	client := NewClient(pool, ClientConfig{Namespace: "resque:", Dialect: DialectPHPResque1})
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan string, 1)
	mux := NewMux()
	mux.HandleFunc("GoJob", func(ctx context.Context, j *Job) error {
		running <- strconv.FormatInt(j.Int("n"), 10) + " " + j.String("s")
		return nil
	})
	mux.HandleFunc("GoFail", func(ctx context.Context, j *Job) error {
		return &JobError{Exception: "App\\Declined", Message: "declined"}
	})
	w, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"go"}, Interval: 50 * time.Millisecond,
		Hostname: host, Handler: mux, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	defer func() {
		w.Shutdown()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	id := w.IDs()[0]

	// node enqueues, goresque performs.
	var null any
	node.run(&null, "enqueue", "go", "GoJob", `[{"n":7,"s":"a/ü"}]`)
	select {
	case got := <-running:
		if got != "7 a/ü" {
			t.Errorf("GoJob args %s", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("goresque did not perform node's job")
	}
	node.run(&null, "enqueue", "go", "GoFail", `[1]`)
	waitUntil(t, "the failure", 15*time.Second, func() bool {
		n, _ := redis.Int(conn.Do("LLEN", keys.Failed()))
		return n == 1
	})

	// A node worker runs a slow job; a goresque worker starting on the same host leaves it
	// alone although its command line has no "resque".
	nw := interop.Start(t, node.cmd("worker", "node"))
	if _, err := client.Enqueue(context.Background(), "node", "NodeSlow", map[string]any{"k": "v"}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the node worker to start goresque's slow job", 20*time.Second, func() bool {
		n, _ := redis.Int(conn.Do("LLEN", "resque:node-started"))
		return n == 1
	})
	nodeID := host + ":" + strconv.Itoa(nw.Cmd.Process.Pid) + ":node"
	if n, _ := redis.Int(conn.Do("EXISTS", keys.Worker(nodeID))); n != 1 {
		ids, _ := redis.Strings(conn.Do("SMEMBERS", keys.Workers()))
		t.Fatalf("no record %s; workers %v", keys.Worker(nodeID), ids)
	}
	w2, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"other"}, Hostname: host, Handler: NewMux(),
		Logger: zerolog.New(zerolog.NewTestWriter(t)), pid: deadPID(t)}) // another goresque process
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w2.pruneDeadWorkers(context.Background(), conn, nil); err != nil || n != 0 {
		t.Errorf("goresque's prune beside a live node worker: pruned %d, %v", n, err)
	}
	if n, _ := redis.Int(conn.Do("EXISTS", keys.Worker(nodeID))); n != 1 {
		t.Error("goresque's prune settled the live node worker's job")
	}
	if _, err := conn.Do("SET", "resque:node-release", 1); err != nil {
		t.Fatal(err)
	}

	// goresque enqueues, the node worker performs.
	if _, err := client.Enqueue(context.Background(), "node", "NodeJob", map[string]any{"x": "ü/1"}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the node worker to perform goresque's job", 20*time.Second, func() bool {
		v, _ := redis.Strings(conn.Do("LRANGE", "resque:node-performed", 0, -1))
		return len(v) == 1 && v[0] == `[{"x":"ü/1"}]`
	})

	// node's workers / failed / stats read goresque's records.
	var info struct {
		Workers map[string]string `json:"workers"`
		Failed  []map[string]any  `json:"failed"`
		Stats   map[string]any    `json:"stats"`
		Working map[string]any    `json:"allWorkingOn"`
	}
	node.run(&info, "info")
	name, queues, _ := strings.Cut(strings.TrimPrefix(id, host+":"), ":")
	if info.Workers[host+":"+name] != queues {
		t.Errorf("node's workers() = %v, want %s:%s -> %s", info.Workers, host, name, queues)
	}
	if len(info.Failed) != 1 || info.Failed[0]["exception"] != `App\Declined` || info.Failed[0]["worker"] != id ||
		info.Failed[0]["queue"] != "go" || info.Failed[0]["payload"].(map[string]any)["class"] != "GoFail" {
		t.Errorf("node's failed() = %v", info.Failed)
	}
	if info.Stats["processed"] == nil || info.Stats["failed"] != "1" {
		t.Errorf("node's stats() = %v", info.Stats)
	}
}

// Issue 8 items 3 and 4 with real node-resque: a node worker killed mid-job is settled by
// goresque with its queue and exact payload bytes although node writes its record keys in
// another order; a dead goresque worker that node's forceCleanWorker already recorded as
// failed is not recorded a second time.
func TestInteropNodeDeadWorkers(t *testing.T) {
	t.Parallel()
	modules := interop.NodeModules(t)
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	node := &nodeResque{t: t, modules: modules, script: filepath.Join(interop.Root(t), "testdata", "interop", "node_client.js"), port: strconv.Itoa(srv.Port)}
	keys := NewKeys("resque:")
	client := NewClient(pool, ClientConfig{Namespace: "resque:", Dialect: DialectPHPResque1})
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	pruner, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"other"}, Hostname: host, Handler: NewMux(),
		HeartbeatInterval: 100 * time.Millisecond, PruneAfter: time.Second,
		Logger: zerolog.New(zerolog.NewTestWriter(t)), pid: deadPID(t)}) // another goresque process
	if err != nil {
		t.Fatal(err)
	}
	failedRecords := func() []string {
		v, _ := redis.Strings(conn.Do("LRANGE", keys.Failed(), 0, -1))
		return v
	}

	// 3. A node worker killed mid-job.
	nw := interop.Start(t, node.cmd("worker", "node"))
	if _, err := client.Enqueue(context.Background(), "node", "NodeSlow", map[string]any{"k": "v/ü"}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the node worker to start the job", 20*time.Second, func() bool {
		n, _ := redis.Int(conn.Do("LLEN", "resque:node-started"))
		return n == 1
	})
	nodeID := host + ":" + strconv.Itoa(nw.Cmd.Process.Pid) + ":node"
	rec, err := redis.Bytes(conn.Do("GET", keys.Worker(nodeID)))
	if err != nil {
		t.Fatal(err)
	}
	_ = nw.Cmd.Process.Kill()
	nw.Stop()
	time.Sleep(1500 * time.Millisecond) // its last ping goes stale (PruneAfter 1s)
	if n, err := pruner.pruneDeadWorkers(context.Background(), conn, nil); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the dead node worker", n, err)
	}
	_, payload := parseWorkingOn(rec)
	f := failedRecords()
	if len(f) != 1 || !strings.Contains(f[0], `"payload":`+string(payload)+`,`) || !strings.Contains(f[0], `"queue":"node"`) ||
		!strings.Contains(f[0], `"worker":"`+nodeID+`"`) {
		t.Fatalf("failure of the dead node worker's job: %q (record %s)", f, rec)
	}

	// 4. node's forceCleanWorker settles a dead goresque worker first.
	release := make(chan struct{})
	running := make(chan string, 1)
	deadPid := deadPID(t)
	wX, err := NewWorker(pool, Config{Namespace: "resque:", Queues: []string{"gx"}, Interval: 50 * time.Millisecond, Hostname: host,
		Handler: blockingMux(release, running), Logger: zerolog.New(zerolog.NewTestWriter(t)), pid: deadPid})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wX.Run(context.Background()) }()
	defer func() { close(release); wX.Shutdown(); <-done }()
	if _, err := client.Enqueue(context.Background(), "gx", "Block", map[string]any{"path": "a/b"}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	<-running
	var cleaned map[string]any
	node.run(&cleaned, "forceClean", host+":"+strconv.Itoa(deadPid))
	if cleaned == nil || cleaned["exception"] != "Worker Timeout (killed manually)" {
		t.Fatalf("forceCleanWorker returned %v", cleaned)
	}
	if n, err := pruner.pruneDeadWorkers(context.Background(), conn, nil); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the dead goresque worker", n, err)
	}
	if f := failedRecords(); len(f) != 2 {
		t.Errorf("%d failure records, want 2 (the node job's and forceCleanWorker's, not a second one for the same job): %q", len(f), f)
	}
	if n, _ := redis.Int(conn.Do("HLEN", keys.InFlight())); n != 0 {
		t.Error("the in-flight record is left behind")
	}
}
