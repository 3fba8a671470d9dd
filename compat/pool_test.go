package compat

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// phpProcs returns the pids of the php processes of bridge p (warm, per-job or forked
// children): those whose environment holds p's output mark, read from /proc.
func phpProcs(t *testing.T, p *PHP) []int {
	t.Helper()
	want := []byte("GORESQUE_OUTPUT_MARK=" + string(p.mark) + "\x00")
	dirs, err := filepath.Glob("/proc/[0-9]*/environ")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		env, err := os.ReadFile(d)
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		pids = append(pids, pid)
	}
	return pids
}

// A worker with 50 slots and the bridge on (pool as large as the slots, the worst case) runs
// no php process while its jobs all have Go handlers; the first PHP job starts one, which
// exits after IdleTimeout. php used to start one warm process per slot at start-up (944 MB
// of RSS for 50 slots in issue 12's measurement).
func TestLazyPool(t *testing.T) {
	t.Parallel()
	needPHP(t)
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs Linux's /proc to count php processes")
	}
	srv := redistest.StartTB(t, redistest.Options{})
	pool := srv.Pool()
	defer pool.Close()
	php, err := New(Config{AppInclude: app("bootstrap.php"), PoolSize: 50, IdleTimeout: 2 * time.Second, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer php.Close()
	if err := php.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := resque.NewMux()
	mux.HandleFunc("Go_Job", func(context.Context, *resque.Job) error { return nil })
	mux.Fallback(php)
	w, err := resque.NewWorker(pool, resque.Config{Queues: []string{"default"}, Concurrency: 50, Interval: 20 * time.Millisecond, Handler: mux, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: "", Dialect: resque.DialectPHPResque136})
	for range 500 {
		if _, err := client.Enqueue(context.Background(), "default", "Go_Job", nil, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	defer func() {
		w.Shutdown()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	conn := pool.Get()
	defer conn.Close()
	processed := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if got, _ := redis.Int(conn.Do("GET", w.Keys().Stat("processed"))); got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d jobs processed", n)
			}
			if pids := phpProcs(t, php); len(pids) > 0 && n == 500 {
				t.Fatalf("php processes %v run while every job has a Go handler", pids)
			}
		}
	}
	processed(500)
	if pids := phpProcs(t, php); len(pids) > 0 {
		t.Fatalf("php processes %v after 500 Go jobs on 50 slots", pids)
	}
	t.Logf("50 slots, 500 Go jobs: no php process; worker RSS %d MB", rss(os.Getpid())>>20)

	if _, err := client.Enqueue(context.Background(), "default", "Php_Succeed", map[string]string{"name": "lazy"}, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	processed(501)
	if pids := phpProcs(t, php); len(pids) != 1 {
		t.Fatalf("after one PHP job: php processes %v, want one warm process", pids)
	}
	for deadline := time.Now().Add(10 * time.Second); len(phpProcs(t, php)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the idle php process %v did not exit after IdleTimeout", phpProcs(t, php))
		}
	}
}

// PoolSize bounds the PHP jobs that run at once, and so the php processes; the rest wait
// for a turn.
func TestPoolSizeBoundsPHPJobs(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newPHP(t, m, func(c *Config) { c.PoolSize = 2 })
			var wg sync.WaitGroup
			stop := make(chan struct{})
			most := 0
			var sampled sync.WaitGroup
			sampled.Add(1)
			go func() {
				defer sampled.Done()
				for {
					warm := 0
					for _, pid := range phpProcs(t, p) {
						if ppid(pid) == os.Getpid() { // not the children forked for jobs
							warm++
						}
					}
					most = max(most, warm)
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			start := time.Now()
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := perform(t, p, job(t, "Php_Sleep", `{"seconds":0.4}`)); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			close(stop)
			sampled.Wait()
			if d := time.Since(start); most > 2 || most == 0 || d < 1200*time.Millisecond {
				t.Errorf("6 jobs of 0.4s with PoolSize 2: up to %d php processes at once, %v in all", most, d)
			}
		})
	}
}

// ppid reads a process's parent from /proc/<pid>/stat (0 when gone).
func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(string(f[1]))
	return n
}
