// Command bench-php measures the PHP bridge: no-op PHP jobs per second in each process
// model against a bare `php` start, in one run, medians of several rounds.
//
//	go run ./scripts/bench-php [-jobs 2000] [-rounds 5]
//
// With PHP_RESQUE_DIR (see resque/interop_test.go) it also drains the same jobs with real
// php-resque workers (bin/resque, fork per job) for the comparison.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/compat"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

func main() {
	jobs := flag.Int("jobs", 2000, "jobs per round for the warm pools")
	slow := flag.Int("slow-jobs", 100, "jobs per round for per-job processes and php-resque")
	rounds := flag.Int("rounds", 5, "rounds (medians are reported)")
	flag.Parse()
	root, _ := filepath.Abs(".")
	app := filepath.Join(root, "testdata", "phpapp", "bootstrap.php")

	fmt.Printf("PHP bridge bench: no-op PHP job (testdata/phpapp Php_Noop), medians of %d rounds\n", *rounds)
	cold := medianOf(*rounds, func() float64 { return startCost(*slow) })
	fmt.Printf("%-44s %10.2f ms/start\n", "bare php start (php -r '')", cold)

	perJob := medianOf(*rounds, func() float64 {
		return 1000 / rate(compat.Config{AppInclude: app, Mode: compat.ModePerJob}, *slow, 1)
	})
	fmt.Printf("%-44s %10.2f ms/job  (%.2fx the bare start)\n", "per job (fresh php per job)", perJob, perJob/cold)

	for _, c := range []struct {
		name string
		iso  compat.Isolation
		conc int
		n    int
	}{
		{"warm pool, fork per job, 1 process", compat.IsolationFork, 1, *slow * 3},
		{"warm pool, fork per job, 2 processes", compat.IsolationFork, 2, *slow * 3},
		{"warm pool, no isolation, 1 process", compat.IsolationNone, 1, *jobs},
		{"warm pool, no isolation, 2 processes", compat.IsolationNone, 2, *jobs},
	} {
		r := medianOf(*rounds, func() float64 {
			return rate(compat.Config{AppInclude: app, Isolation: c.iso, PoolSize: c.conc}, c.n, c.conc)
		})
		fmt.Printf("%-44s %10.0f jobs/s\n", c.name, r)
	}

	srv, err := redistest.Start(redistest.Options{TCP: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-php:", err)
		os.Exit(1)
	}
	defer srv.Stop()
	pool := srv.Pool()
	defer pool.Close()
	e2e := medianOf(*rounds, func() float64 { return drain(pool, app, *jobs, 2) })
	fmt.Printf("%-44s %10.0f jobs/s  (worker + bridge, from Redis)\n", "goresque work, warm pool, no isolation, 2", e2e)

	if dir := os.Getenv("PHP_RESQUE_DIR"); dir != "" {
		for _, d := range []string{"php-resque-1"} {
			r := medianOf(*rounds, func() float64 { return phpResque(pool, srv.Port, filepath.Join(dir, d), app, *slow) })
			fmt.Printf("%-44s %10.0f jobs/s  (real php-resque, 1 worker)\n", d+" bin/resque, fork per job", r)
		}
	}
}

func medianOf(n int, f func() float64) float64 {
	var xs []float64
	for range n {
		xs = append(xs, f())
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// startCost is the time of a bare php start in milliseconds.
func startCost(n int) float64 {
	start := time.Now()
	for range n {
		if err := exec.Command("php", "-r", "").Run(); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(start).Microseconds()) / 1000 / float64(n)
}

// rate runs n no-op jobs through the bridge with conc callers and returns jobs per second.
func rate(cfg compat.Config, n, conc int) float64 {
	cfg.Logger = zerolog.Nop()
	php, err := compat.New(cfg)
	if err != nil {
		panic(err)
	}
	defer php.Close()
	if err := php.Check(context.Background()); err != nil {
		panic(err)
	}
	job, err := resque.NewJob("bench", []byte(`{"class":"Php_Noop","args":[{"n":1}],"id":"0123456789abcdef0123456789abcdef","queue_time":1795727497.5}`))
	if err != nil {
		panic(err)
	}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				j := *job
				if err := php.Perform(context.Background(), &j); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func fill(pool *redis.Pool, ns string, n int) {
	c := resque.NewClient(pool, ns, resque.DialectPHPResque1)
	for range n {
		if _, err := c.Enqueue(context.Background(), "bench", "Php_Noop", resque.PHPObject{{Key: "n", Value: 1}}, resque.EnqueueOptions{}); err != nil {
			panic(err)
		}
	}
}

func waitProcessed(pool *redis.Pool, ns string, n int) {
	conn := pool.Get()
	defer conn.Close()
	for {
		v, _ := redis.Int(conn.Do("GET", ns+":stat:processed"))
		if v >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var round atomic.Int64

// drain runs goresque's worker with the bridge (warm pool, no isolation) over n jobs.
func drain(pool *redis.Pool, app string, n, conc int) float64 {
	ns := "php-e2e-" + strconv.FormatInt(round.Add(1), 10)
	fill(pool, ns, n)
	php, err := compat.New(compat.Config{AppInclude: app, Isolation: compat.IsolationNone, PoolSize: conc, Logger: zerolog.Nop()})
	if err != nil {
		panic(err)
	}
	defer php.Close()
	if err := php.Check(context.Background()); err != nil {
		panic(err)
	}
	mux := resque.NewMux()
	mux.Fallback(php)
	w, err := resque.NewWorker(pool, resque.Config{Namespace: ns, Queues: []string{"bench"}, Concurrency: conc, Handler: mux, Hostname: "bench"})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- w.Run(context.Background()) }()
	waitProcessed(pool, ns, n)
	elapsed := time.Since(start)
	w.Shutdown()
	if err := <-done; err != nil {
		panic(err)
	}
	return float64(n) / elapsed.Seconds()
}

// phpResque drains n jobs with one real php-resque worker (fork per job).
func phpResque(pool *redis.Pool, port int, dir, app string, n int) float64 {
	ns := "php-resque-" + strconv.FormatInt(round.Add(1), 10)
	fill(pool, ns, n)
	cmd := exec.Command("php", "-d", "error_reporting=22527", filepath.Join(dir, "bin", "resque"))
	cmd.Env = append(os.Environ(), "QUEUE=bench", "INTERVAL=0.1", "REDIS_BACKEND=127.0.0.1:"+strconv.Itoa(port), "PREFIX="+ns, "APP_INCLUDE="+app)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	waitProcessed(pool, ns, n)
	elapsed := time.Since(start)
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	return float64(n) / elapsed.Seconds()
}
