// Command soak runs a goresque worker process through many jobs and reports its resident
// memory as it goes, to show that it stays flat.
//
//	go run ./scripts/soak [-jobs 200000] [-concurrency 2]
//
// The worker is this program re-executed as the goresque command line (command.Main) with
// three Go handlers: a no-op, one that fails, and one that panics (one job in ten fails,
// one in a hundred panics); half the jobs are tracked. RSS is read from /proc/<pid>/status
// after every tenth of the run; the first sample is taken after a warm-up of 5%.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/command"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

const workerEnv = "GORESQUE_SOAK_WORKER"

func main() {
	if os.Getenv(workerEnv) == "1" {
		mux := resque.NewMux()
		mux.HandleFunc("Soak_Noop", func(ctx context.Context, j *resque.Job) error { j.SetResult(j.Int("n")); return nil })
		mux.HandleFunc("Soak_Fail", func(ctx context.Context, j *resque.Job) error { return errors.New("soak failure") })
		mux.HandleFunc("Soak_Panic", func(ctx context.Context, j *resque.Job) error { panic("soak panic") })
		os.Exit(command.Main(mux))
	}
	jobs := flag.Int("jobs", 200000, "jobs to run")
	conc := flag.Int("concurrency", 2, "GORESQUE_CONCURRENCY of the worker")
	flag.Parse()

	srv, err := redistest.Start(redistest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	defer srv.Stop()
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()

	exe, _ := os.Executable()
	cmd := exec.Command(exe, "work")
	cmd.Args[0] = "goresque-soak"
	cmd.Env = append(os.Environ(), workerEnv+"=1", "QUEUE=soak", "INTERVAL=0.05", "REDIS_BACKEND="+srv.Socket,
		"GORESQUE_CONCURRENCY="+strconv.Itoa(*conc), "GORESQUE_PHP=off", "GORESQUE_LOG_FORMAT=json")
	cmd.Stderr = nil // the worker logs one line per failure: discard
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	defer func() { _ = cmd.Process.Kill() }()

	client := resque.NewClient(pool, resque.ClientConfig{Namespace: "", Dialect: resque.DialectPHPResque136})
	fmt.Printf("soak: %d jobs, worker concurrency %d, pid %d\n", *jobs, *conc, cmd.Process.Pid)
	fmt.Printf("%10s %12s %10s\n", "processed", "RSS (MiB)", "jobs/s")
	var first, last float64
	batch := 5000
	enqueued := 0
	lastT, lastN := time.Now(), 0
	mark := 0 // samples taken: after 5% (warm-up), then at every tenth
	start := time.Now()
	for {
		n, _ := redis.Int(conn.Do("GET", "resque:stat:processed"))
		// Keep at most two batches queued.
		for enqueued < *jobs && enqueued-n < 2*batch {
			for range min(batch, *jobs-enqueued) {
				enqueued++
				class := "Soak_Noop"
				switch {
				case enqueued%100 == 0:
					class = "Soak_Panic"
				case enqueued%10 == 0:
					class = "Soak_Fail"
				}
				if _, err := client.Enqueue(context.Background(), "soak", class, resque.PHPObject{{Key: "n", Value: enqueued}}, resque.EnqueueOptions{Track: enqueued%2 == 0}); err != nil {
					fmt.Fprintln(os.Stderr, "soak:", err)
					os.Exit(1)
				}
			}
		}
		due := *jobs / 20
		if mark > 0 {
			due = mark * *jobs / 10
		}
		if n >= due {
			rss := rssMiB(cmd.Process.Pid)
			rate := float64(n-lastN) / time.Since(lastT).Seconds()
			lastT, lastN = time.Now(), n
			fmt.Printf("%10d %12.1f %10.0f\n", n, rss, rate)
			if first == 0 {
				first = rss
			}
			last = rss
			mark++
		}
		if n >= *jobs {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	_ = cmd.Wait()
	failed, _ := redis.Int(conn.Do("LLEN", "resque:failed"))
	fmt.Printf("soak: %d jobs in %v, %d failure records; RSS after warm-up %.1f MiB, at the end %.1f MiB (%+.1f%%)\n",
		*jobs, time.Since(start).Round(time.Second), failed, first, last, 100*(last-first)/first)
}

func rssMiB(pid int) float64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
