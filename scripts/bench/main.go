// Command bench measures goresque's Go-handler throughput and pickup latency against the
// Redis floor, on a private redis-server, and prints medians and ratios from one run.
//
//	go run ./scripts/bench [-jobs 20000] [-rounds 5] [-workers 1,2,8]
//
// Throughput: N tracked no-op jobs are enqueued in php-resque's format (Resque::enqueue's
// bytes, status key included), then a Worker with k slots drains them with full bookkeeping:
// the atomic claim into worker:<id>, status running and complete (v1.3.6 packets), the
// job:<id>:pid key, stats, DEL worker:<id>. Timed from the worker's start to the last
// processed count.
//
// Floor: the same per-job Redis commands (LPOP, SET worker, HSET in-flight, SET pid, GET and
// SET status twice, EXPIRE, DEL pid, INCRBY x2, DEL worker, HDEL in-flight) sent by k
// connections as one pipeline per job: what Redis itself can do on this machine with the
// fewest possible round trips. The ratio goresque/floor says how close the worker gets.
//
// Latency: BLOCKING mode, one slot, one job at a time every 10 ms; the time from just
// before the enqueue to the handler starting.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

func main() {
	jobs := flag.Int("jobs", 20000, "jobs per round")
	rounds := flag.Int("rounds", 5, "rounds per configuration (the median is reported)")
	workersFlag := flag.String("workers", "1,2,8", "worker slots to measure")
	latencyJobs := flag.Int("latency-jobs", 500, "jobs for the pickup latency measurement")
	flag.Parse()

	srv, err := redistest.Start(redistest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer srv.Stop()
	pool := srv.Pool()
	defer pool.Close()

	var ks []int
	for _, s := range strings.Split(*workersFlag, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 {
			fmt.Fprintln(os.Stderr, "bench: bad -workers")
			os.Exit(2)
		}
		ks = append(ks, k)
	}
	fmt.Printf("goresque bench: %d tracked no-op jobs per round, %d rounds, median jobs/s; redis on a unix socket\n", *jobs, *rounds)
	fmt.Printf("%-8s %14s %14s %8s   %s\n", "workers", "goresque", "redis floor", "ratio", "CPU µs/job: goresque (redis+worker), floor (redis+client)")
	for _, k := range ks {
		var ours, floor []result
		for r := 0; r < *rounds; r++ {
			// Alternate the order so drift on this noisy machine hits both alike.
			if r%2 == 0 {
				ours = append(ours, runWorker(pool, k, *jobs, r))
				floor = append(floor, runFloor(pool, k, *jobs, r))
			} else {
				floor = append(floor, runFloor(pool, k, *jobs, r))
				ours = append(ours, runWorker(pool, k, *jobs, r))
			}
		}
		pick := func(rs []result, f func(result) float64) float64 {
			var xs []float64
			for _, r := range rs {
				xs = append(xs, f(r))
			}
			return median(xs)
		}
		rate := func(r result) float64 { return r.rate }
		rcpu := func(r result) float64 { return r.redisUS }
		scpu := func(r result) float64 { return r.selfUS }
		var ratios []float64
		for i := range ours {
			ratios = append(ratios, ours[i].rate/floor[i].rate)
		}
		fmt.Printf("%-8d %14.0f %14.0f %8.2f   %.1f+%.1f, %.1f+%.1f\n", k, pick(ours, rate), pick(floor, rate), median(ratios),
			pick(ours, rcpu), pick(ours, scpu), pick(floor, rcpu), pick(floor, scpu))
	}
	p50, p99 := latency(pool, *latencyJobs)
	fmt.Printf("pickup latency, BLOCKING, 1 worker, light load: p50 %.3f ms, p99 %.3f ms (%d jobs)\n", p50, p99, *latencyJobs)
}

// cpuSample is the CPU time Redis and this process have used so far.
type cpuSample struct{ redis, self time.Duration }

func sampleCPU(pool *redis.Pool) cpuSample {
	conn := pool.Get()
	defer conn.Close()
	info, _ := redis.String(conn.Do("INFO", "cpu"))
	var total float64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpuSample{redis: time.Duration(total * float64(time.Second)), self: self}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fill enqueues n tracked jobs with 8 concurrent pushers.
func fill(c *resque.Client, n int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := c.Enqueue(context.Background(), "bench", "Bench_Noop", resque.PHPObject{{Key: "n", Value: 1}}, resque.EnqueueOptions{Track: true}); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
}

// result is one measured drain.
type result struct {
	rate            float64 // jobs/s
	redisUS, selfUS float64 // CPU µs per job: redis-server, this process
}

func measure(pool *redis.Pool, n int, drain func()) result {
	before := sampleCPU(pool)
	start := time.Now()
	drain()
	elapsed := time.Since(start)
	after := sampleCPU(pool)
	return result{
		rate:    float64(n) / elapsed.Seconds(),
		redisUS: float64((after.redis - before.redis).Microseconds()) / float64(n),
		selfUS:  float64((after.self - before.self).Microseconds()) / float64(n),
	}
}

func runWorker(pool *redis.Pool, k, n, round int) result {
	ns := fmt.Sprintf("bench-w%d-r%d", k, round)
	c := resque.NewClient(pool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque136})
	fill(c, n)
	mux := resque.NewMux()
	mux.HandleFunc("Bench_Noop", func(ctx context.Context, j *resque.Job) error { return nil })
	w, err := resque.NewWorker(pool, resque.Config{
		Namespace: ns, Queues: []string{"bench"}, Interval: 10 * time.Millisecond,
		Concurrency: k, Handler: mux, Hostname: "bench",
	})
	if err != nil {
		panic(err)
	}
	conn := pool.Get()
	defer conn.Close()
	done := make(chan error, 1)
	key := c.Keys().Stat("processed")
	r := measure(pool, n, func() {
		go func() { done <- w.Run(context.Background()) }()
		for {
			v, _ := redis.Int(conn.Do("GET", key))
			if v >= n {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	w.Shutdown()
	if err := <-done; err != nil {
		panic(err)
	}
	cleanup(conn, ns)
	return r
}

// runFloor sends the same per-job commands as raw pipelines, one round trip per job.
func runFloor(pool *redis.Pool, k, n, round int) result {
	ns := fmt.Sprintf("bench-f%d-r%d", k, round)
	c := resque.NewClient(pool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque136})
	fill(c, n)
	keys := c.Keys()
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	r := measure(pool, n, func() {
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn := pool.Get()
				defer conn.Close()
				id := fmt.Sprintf("bench_%d:1:bench", i)
				status := keys.JobStatus("0123456789abcdef0123456789abcdef", "")
				pid := keys.JobPID("0123456789abcdef0123456789abcdef")
				for left.Add(-1) >= 0 {
					cmds := [][]any{
						{"LPOP", keys.Queue("bench")},
						{"SET", keys.Worker(id), `{"queue":"bench","run_at":"2026-11-26T00:00:00+00:00","payload":{}}`},
						{"HSET", keys.InFlight(), id, `{"queue":"bench"}`},
						{"SET", pid, "1"},
						{"GET", status},
						{"SET", status, `{"status":2,"updated":1,"started":1,"result":null}`},
						{"GET", status},
						{"SET", status, `{"status":4,"updated":1,"started":1,"result":null}`},
						{"EXPIRE", status, 86400},
						{"DEL", pid},
						{"INCRBY", keys.Stat("processed"), 1},
						{"INCRBY", keys.WorkerStat("processed", id), 1},
						{"DEL", keys.Worker(id)},
						{"HDEL", keys.InFlight(), id},
					}
					for _, cmd := range cmds {
						if err := conn.Send(cmd[0].(string), cmd[1:]...); err != nil {
							panic(err)
						}
					}
					if _, err := conn.Do(""); err != nil {
						panic(err)
					}
				}
			}()
		}
		wg.Wait()
	})
	conn := pool.Get()
	defer conn.Close()
	cleanup(conn, ns)
	return r
}

func latency(pool *redis.Pool, n int) (p50, p99 float64) {
	ns := "bench-latency"
	c := resque.NewClient(pool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque136})
	var mu sync.Mutex
	var lat []float64
	started := make(chan struct{}, 1)
	var sentAt atomic.Int64
	mux := resque.NewMux()
	mux.HandleFunc("Bench_Noop", func(ctx context.Context, j *resque.Job) error {
		d := time.Since(time.Unix(0, sentAt.Load()))
		mu.Lock()
		lat = append(lat, float64(d.Microseconds())/1000)
		mu.Unlock()
		started <- struct{}{}
		return nil
	})
	w, err := resque.NewWorker(pool, resque.Config{
		Namespace: ns, Queues: []string{"bench"}, Interval: 5 * time.Second, Blocking: true,
		Handler: mux, Hostname: "bench",
	})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	for range n {
		time.Sleep(10 * time.Millisecond)
		sentAt.Store(time.Now().UnixNano())
		if _, err := c.Enqueue(context.Background(), "bench", "Bench_Noop", nil, resque.EnqueueOptions{}); err != nil {
			panic(err)
		}
		<-started
	}
	w.Shutdown()
	if err := <-done; err != nil {
		panic(err)
	}
	conn := pool.Get()
	defer conn.Close()
	cleanup(conn, ns)
	sort.Float64s(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

func cleanup(conn redis.Conn, ns string) {
	cursor := 0
	for {
		vals, err := redis.Values(conn.Do("SCAN", cursor, "MATCH", ns+":*", "COUNT", 1000))
		if err != nil {
			return
		}
		cursor, _ = redis.Int(vals[0], nil)
		keys, _ := redis.Strings(vals[1], nil)
		for _, k := range keys {
			_, _ = conn.Do("DEL", k)
		}
		if cursor == 0 {
			return
		}
	}
}
