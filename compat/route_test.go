package compat

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// routeEnv is a worker whose class Route_Mark has both a Go handler and its PHP class
// (testdata/phpapp/jobs/Route/Mark.php) behind the real PHP bridge. Each side leaves a
// marker per job: the Go handler in memory, the PHP class a line in a file.
type routeEnv struct {
	pool   *redis.Pool
	client *resque.Client
	file   string
	mux    *resque.Mux

	mu       sync.Mutex
	goRan    []int          // n of the jobs the Go handler ran, in order
	observed map[int]string // n → Job.Implementation() at JobFinished
	onGo     func(n int)
}

func newRouteEnv(t *testing.T) *routeEnv {
	t.Helper()
	php := newPHP(t, model{"pool-none", ModePool, IsolationNone}, func(c *Config) { c.PoolSize = 2 })
	srv := redistest.StartTB(t, redistest.Options{})
	e := &routeEnv{pool: srv.Pool(), file: filepath.Join(t.TempDir(), "php-ran"), observed: map[int]string{}}
	t.Cleanup(func() { e.pool.Close() })
	e.client = resque.NewClient(e.pool, resque.ClientConfig{Dialect: resque.DialectPHPResque136})
	e.mux = resque.NewMux()
	e.mux.HandleFunc("Route_Mark", func(_ context.Context, job *resque.Job) error {
		n := int(job.Int("n"))
		e.mu.Lock()
		e.goRan = append(e.goRan, n)
		f := e.onGo
		e.mu.Unlock()
		if f != nil {
			f(n)
		}
		return job.ArgErr()
	})
	e.mux.Fallback(php)
	return e
}

func (e *routeEnv) JobStarted(*resque.Job, time.Time) {}
func (e *routeEnv) JobFinished(job *resque.Job, _ resque.Status, _ time.Duration) {
	n := int(job.Int("n"))
	e.mu.Lock()
	e.observed[n] = job.Implementation()
	e.mu.Unlock()
}
func (e *routeEnv) RedisError(error)  {}
func (e *routeEnv) RedisReconnected() {}

func (e *routeEnv) enqueue(t *testing.T, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		if _, err := e.client.Enqueue(context.Background(), "default", "Route_Mark", map[string]any{"n": n, "file": e.file}, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// run works the queue until n jobs were processed.
func (e *routeEnv) run(t *testing.T, concurrency, n int) {
	t.Helper()
	w, err := resque.NewWorker(e.pool, resque.Config{Queues: []string{"default"}, Concurrency: concurrency, Interval: 20 * time.Millisecond,
		Handler: e.mux, Observer: e, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	conn := e.pool.Get()
	defer conn.Close()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if got, _ := redis.Int(conn.Do("GET", w.Keys().Stat("processed"))); got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d jobs processed in 5 minutes", n)
		}
	}
	w.Shutdown()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// phpRan reads the PHP class's markers, in the order the jobs ran.
func (e *routeEnv) phpRan(t *testing.T) []int {
	t.Helper()
	f, err := os.Open(e.file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []int
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "php "))
		if err != nil {
			t.Fatalf("marker line %q", sc.Text())
		}
		out = append(out, n)
	}
	return out
}

// Issue #14: a class with a Go handler and a PHP class, routed go:30%, 2,000 jobs through
// the real PHP bridge: about 30% run in Go, each job runs once on one side, and the side
// the worker records for each job (Job.Implementation) is the side whose marker it left.
func TestRouteSplitsBetweenGoAndPHP(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t)
	e.mux.SetRoute("Route_Mark", 30)
	const n = 2000
	e.enqueue(t, 1, n)
	start := time.Now()
	e.run(t, 4, n)
	ranOn := make(map[int]string, n)
	mark := func(side string, ns []int) {
		for _, k := range ns {
			if prev, dup := ranOn[k]; dup {
				t.Fatalf("job %d ran on %s and on %s", k, prev, side)
			}
			ranOn[k] = side
		}
	}
	mark(resque.ImplGo, e.goRan)
	php := e.phpRan(t)
	mark(resque.ImplPHP, php)
	if len(ranOn) != n {
		t.Fatalf("%d jobs left a marker, want %d", len(ranOn), n)
	}
	for k := 1; k <= n; k++ {
		if e.observed[k] != ranOn[k] {
			t.Fatalf("job %d ran on %s; the worker recorded %q", k, ranOn[k], e.observed[k])
		}
	}
	share := float64(len(e.goRan)) / n * 100
	if share < 26 || share > 34 {
		t.Errorf("go:30%%: %.1f%% of %d jobs ran in Go", share, n)
	}
	t.Logf("go:30%%: %d Go, %d PHP (%.1f%% Go) in %v", len(e.goRan), len(php), share, time.Since(start).Round(time.Millisecond))
}

// Rollback with the real PHP bridge: the class runs in Go (go, 100%) until a job calls
// Client.SetRoute(class, 0) (what `goresque route CLASS php` does); every job claimed
// after that runs as the PHP class, none in between in Go.
func TestRouteRollbackToPHP(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t)
	if err := e.client.SetRoute(context.Background(), "Route_Mark", 100); err != nil {
		t.Fatal(err)
	}
	const rollbackAt, n = 10, 40
	e.onGo = func(k int) {
		if k == rollbackAt {
			if err := e.client.SetRoute(context.Background(), `\route_mark`, 0); err != nil {
				t.Error(err)
			}
		}
	}
	e.enqueue(t, 1, n)
	e.run(t, 1, n)
	if got, want := fmt.Sprint(e.goRan), fmt.Sprint(seq(1, rollbackAt)); got != want {
		t.Errorf("Go ran %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(e.phpRan(t)), fmt.Sprint(seq(rollbackAt+1, n)); got != want {
		t.Errorf("PHP ran %s, want %s", got, want)
	}
}

func seq(from, to int) []int {
	var out []int
	for k := from; k <= to; k++ {
		out = append(out, k)
	}
	return out
}
