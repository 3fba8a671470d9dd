// Command chaos is goresque's zero-loss proof, run against a private redis-server:
//
//	go run ./scripts/chaos [-jobs 5000] [-faults 20] [-concurrency 4] [-count 2] [-blocking]
//	                       [-dead-jobs fail|requeue] [-kinds kill-proc,kill-group,client-kill[,quit]]
//	                       [-php-share 0.3 [-php pool|job] [-php-isolation fork|none]]
//
// It enqueues tracked Chaos_Job jobs in php-resque's format, runs this same binary as the
// goresque worker under test (re-executed with GORESQUE_CHAOS_WORKER=1, which makes it
// command.Main with the Chaos_Job handler), and at random moments while the queue is worked
// SIGKILLs the worker process, SIGKILLs its whole process group, or CLIENT KILLs its Redis
// connections; after each SIGKILL it starts the worker again, which prunes the dead one and
// records its in-flight job as a dirty exit (or requeues it, -dead-jobs requeue). When the
// queue is empty and no worker holds a job it stops the worker with SIGQUIT and accounts for
// every job id: performed, failed (dirty exit), requeued, duplicated, still queued, or lost.
// The exit status is 1 when a job was lost or anything was inconsistent.
//
// Each Chaos_Job execution adds a token (pid/worker/sequence) to the set
// resque:chaos:runs:<job id> on its own connection, then sleeps 0-20 ms, so kills land
// mid-job; the set counts executions exactly, even when that connection is killed too.
//
// With -php-share, that share of the jobs is Chaos_PhpJob (testdata/phpapp/jobs/Chaos/
// PhpJob.php), which records its executions the same way from PHP: the worker runs it
// through its PHP bridge (APP_INCLUDE=testdata/phpapp/bootstrap.php, GORESQUE_PHP=-php,
// GORESQUE_PHP_ISOLATION=-php-isolation), kill-group then kills the worker with every php
// process it started, and after each kill-proc (the worker alone) the run checks that the
// worker's php processes died with it and follows the forked job children that did not.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/goresque/goresque/command"
	"github.com/goresque/goresque/internal/chaos"
	"github.com/goresque/goresque/internal/redistest"
)

// workerEnv switches this binary to the worker under test.
const workerEnv = "GORESQUE_CHAOS_WORKER"

func main() {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(command.Main(chaos.WorkerMux()))
	}
	os.Exit(drive())
}

func drive() int {
	jobs := flag.Int("jobs", 5000, "jobs to enqueue")
	faults := flag.Int("faults", 20, "faults to inject")
	kinds := flag.String("kinds", "kill-proc,kill-group,client-kill", "fault kinds, used in equal shares; also quit (SIGQUIT and restart)")
	concurrency := flag.Int("concurrency", 4, "GORESQUE_CONCURRENCY of the worker")
	count := flag.Int("count", 0, "COUNT of the worker (worker processes under one parent); 0: one process")
	blocking := flag.Bool("blocking", false, "BLOCKING=1")
	deadJobs := flag.String("dead-jobs", "fail", "GORESQUE_DEAD_JOBS: fail or requeue")
	interval := flag.String("interval", "0.05", "INTERVAL, seconds")
	maxSleep := flag.Duration("max-sleep", 20*time.Millisecond, "longest random sleep of a job")
	restartDelay := flag.Duration("restart-delay", 200*time.Millisecond, "longest random pause before a killed worker is restarted")
	seed := flag.Uint64("seed", 0, "random seed (0: random; printed)")
	timeout := flag.Duration("timeout", 100*time.Second, "longest run; jobs not settled by then are reported")
	tcp := flag.Bool("tcp", false, "talk to redis over loopback TCP instead of a unix socket")
	keepLogs := flag.Bool("keep-logs", false, "keep the worker log even when nothing went wrong")
	quiet := flag.Bool("quiet", false, "do not print each fault")
	phpShare := flag.Float64("php-share", 0, "share of the jobs that are the PHP class Chaos_PhpJob (0 to 1); 0: Go jobs only, GORESQUE_PHP=off")
	phpMode := flag.String("php", "pool", "GORESQUE_PHP for the PHP jobs: pool (warm processes) or job (a php per job)")
	phpIsolation := flag.String("php-isolation", "fork", "GORESQUE_PHP_ISOLATION for pool: fork (a child per job) or none")
	appInclude := flag.String("app-include", "", "APP_INCLUDE for the PHP jobs (default: this module's testdata/phpapp/bootstrap.php)")
	flag.Parse()

	ks, err := chaos.ParseKinds(*kinds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if *deadJobs != "fail" && *deadJobs != "requeue" {
		fmt.Fprintln(os.Stderr, "chaos: -dead-jobs: want fail or requeue")
		return 2
	}
	if *phpShare > 0 {
		if *appInclude == "" {
			*appInclude = defaultAppInclude()
		}
		if *appInclude, err = filepath.Abs(*appInclude); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		if _, err := os.Stat(*appInclude); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: -app-include:", err)
			return 2
		}
		if *phpMode == "job" {
			*phpIsolation = "none"
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	srv, err := redistest.Start(redistest.Options{TCP: *tcp})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer srv.Stop()
	logDir, err := os.MkdirTemp("", "goresque-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	logPath := filepath.Join(logDir, "worker.log")

	// Interrupted, or printing into a closed pipe (| head): clean up all the same.
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()

	cfg := chaos.Config{
		Jobs: *jobs, Faults: *faults, Kinds: ks,
		Concurrency: *concurrency, Count: *count, Blocking: *blocking, DeadJobs: *deadJobs, Interval: *interval,
		MaxSleep: *maxSleep, RestartDelay: *restartDelay, Seed: *seed, Timeout: *timeout,
		Program: []string{exe, "work"}, Argv0: os.Args[0], Env: []string{workerEnv + "=1"},
		Network: "unix", Addr: srv.Socket,
		WorkerLog: logPath,
		PHPShare:  *phpShare, PHPMode: *phpMode, PHPIsolation: *phpIsolation, AppInclude: *appInclude,
	}
	where := srv.Addr
	if *tcp {
		cfg.Network, cfg.Addr = "tcp", fmt.Sprintf("127.0.0.1:%d", srv.Port)
		where = "tcp:" + cfg.Addr
	}
	if !*quiet {
		cfg.Progress = os.Stdout
	}
	mode := "polling"
	if *blocking {
		mode = "blocking"
	}
	procs := "one process"
	if *count > 1 {
		procs = fmt.Sprintf("COUNT=%d", *count)
	}
	php := "Go jobs only"
	if *phpShare > 0 {
		php = fmt.Sprintf("%.0f%% PHP jobs (GORESQUE_PHP=%s, isolation %s)", 100**phpShare, *phpMode, *phpIsolation)
	}
	fmt.Printf("goresque chaos: %d jobs, %s, %d faults, QUEUE=chaos GORESQUE_CONCURRENCY=%d, %s, %s, INTERVAL=%s, dead jobs: %s, redis %s\n",
		*jobs, php, *faults, *concurrency, procs, mode, *interval, *deadJobs, where)
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		fmt.Fprintln(os.Stderr, "worker log:", logPath)
		return 1
	}
	fmt.Println()
	rep.Print(os.Stdout)
	if !rep.OK() || *keepLogs {
		fmt.Println("worker log:", logPath)
	} else {
		os.RemoveAll(logDir)
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// defaultAppInclude is testdata/phpapp/bootstrap.php of this module: found from the
// working directory up, else next to this source file (go run).
func defaultAppInclude() string {
	const rel = "testdata/phpapp/bootstrap.php"
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				if _, err := os.Stat(filepath.Join(dir, rel)); err == nil {
					return filepath.Join(dir, rel)
				}
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		return filepath.Join(filepath.Dir(file), "..", "..", rel)
	}
	return rel
}
