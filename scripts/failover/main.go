// Command failover measures what a Redis failover does to goresque's jobs, against real
// processes it starts on 127.0.0.1 (redis-server master and replica, three redis-sentinel):
//
//	go run ./scripts/failover [-jobs 5000] [-rate 250] [-failovers 2] [-workers 2] [-concurrency 2]
//	                          [-wait 0,1] [-bench-jobs 2000] [-bench-rounds 3]
//
// For each GORESQUE_REDIS_WAIT_REPLICAS value in -wait it enqueues -jobs tracked jobs from
// a producer (-rate jobs per second, so that the failovers meet enqueues too) while -workers goresque processes (this binary, re-executed as the worker with
// the Chaos_Job handler) work them through Sentinel, SIGKILLs the master -failovers times
// (a replica is promoted; the old master comes back empty as a replica of the new one), and
// accounts for every acknowledged job: performed, duplicated, failed, outcome lost, lost.
// Each execution is recorded on a separate redis-server that never fails.
//
// Then it measures the cost of WAIT: -bench-rounds rounds of -bench-jobs jobs without
// faults, alternating the -wait values in the same run, and prints the median jobs/s of
// each and their ratio. The exit status is 1 when a job was lost with WAIT >= 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goresque/goresque/command"
	"github.com/goresque/goresque/internal/chaos"
	"github.com/goresque/goresque/internal/redistest"
)

const workerEnv = "GORESQUE_FAILOVER_WORKER"

func main() {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(command.Main(chaos.WorkerMux()))
	}
	os.Exit(drive())
}

func drive() int {
	jobs := flag.Int("jobs", 5000, "tracked jobs per failover run")
	failovers := flag.Int("failovers", 2, "masters SIGKILLed per run")
	workers := flag.Int("workers", 2, "worker processes")
	concurrency := flag.Int("concurrency", 2, "GORESQUE_CONCURRENCY of each worker")
	waits := flag.String("wait", "0,1", "GORESQUE_REDIS_WAIT_REPLICAS values to run, comma separated")
	rate := flag.Float64("rate", 250, "jobs per second the producer enqueues in the failover runs (0: unpaced)")
	maxSleep := flag.Duration("max-sleep", 2*time.Millisecond, "longest random sleep of a job")
	benchJobs := flag.Int("bench-jobs", 2000, "jobs per throughput round without faults (0: no throughput rounds)")
	benchRounds := flag.Int("bench-rounds", 3, "throughput rounds per WAIT value")
	flag.Parse()

	var ws []int
	for _, f := range strings.Split(*waits, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "failover: -wait %q: want numbers of replicas\n", *waits)
			return 2
		}
		ws = append(ws, n)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logDir, err := os.MkdirTemp("", "goresque-failover-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		return 1
	}

	run := func(name string, wait, n, faults int) (*chaos.FailoverReport, error) {
		h, err := redistest.StartHA(redistest.HAOptions{})
		if err != nil {
			return nil, err
		}
		defer h.Stop()
		ledger, err := redistest.Start(redistest.Options{})
		if err != nil {
			return nil, err
		}
		defer ledger.Stop()
		var progress *os.File
		pace := 0.0 // throughput rounds: unpaced
		if faults > 0 {
			progress = os.Stdout
			pace = *rate
		}
		cfg := chaos.FailoverConfig{
			Jobs: n, Rate: pace, Workers: *workers, Concurrency: *concurrency, Failovers: faults, WaitReplicas: wait,
			MaxSleep: *maxSleep, Timeout: 10 * time.Minute, HA: h, Ledger: ledger,
			Program: []string{exe, "work"}, Argv0: os.Args[0], Env: []string{workerEnv + "=1"},
			WorkerLog: filepath.Join(logDir, name+".log"),
		}
		if progress != nil {
			cfg.Progress = progress
		}
		return chaos.RunFailover(ctx, cfg)
	}

	code := 0
	fmt.Printf("goresque failover: %d tracked jobs, %d workers x GORESQUE_CONCURRENCY=%d, %d master SIGKILLs per run, through 3 sentinels\n",
		*jobs, *workers, *concurrency, *failovers)
	for _, w := range ws {
		rep, err := run(fmt.Sprintf("failover-wait%d", w), w, *jobs, *failovers)
		if err != nil {
			fmt.Fprintln(os.Stderr, "failover:", err)
			return 1
		}
		rep.Print(os.Stdout)
		if w >= 1 && (rep.Lost != 0 || rep.OutcomeLost != 0 || rep.Stuck != 0) {
			code = 1
		}
	}
	if *benchJobs > 0 {
		fmt.Printf("\nthroughput without faults: %d rounds of %d jobs per WAIT value, alternating\n", *benchRounds, *benchJobs)
		rates := map[int][]float64{}
		for r := range *benchRounds {
			for _, w := range ws {
				rep, err := run(fmt.Sprintf("bench-wait%d-%d", w, r), w, *benchJobs, 0)
				if err != nil {
					fmt.Fprintln(os.Stderr, "failover:", err)
					return 1
				}
				rates[w] = append(rates[w], rep.JobsPerSecond())
				fmt.Printf("  round %d WAIT=%d: %.0f jobs/s\n", r+1, w, rep.JobsPerSecond())
			}
		}
		base := median(rates[ws[0]])
		for _, w := range ws {
			m := median(rates[w])
			fmt.Printf("  WAIT=%d: median %.0f jobs/s (%.2fx of WAIT=%d)\n", w, m, m/base, ws[0])
		}
	}
	if code == 0 {
		os.RemoveAll(logDir)
	} else {
		fmt.Println("worker logs:", logDir)
	}
	return code
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
