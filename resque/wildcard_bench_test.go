package resque

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// BenchmarkWildcard5000 drains b.N no-op jobs spread over 4 of 5,001 queues with QUEUE=*
// and 8 slots (issue 12 item 4), on a redis-server of its own so that its CPU time is the
// worker's alone. It reports jobs/s, Redis CPU µs per job, and Redis CPU µs per second of
// an idle worker afterwards (the idle poll) next to that of the server without a worker.
func BenchmarkWildcard5000(b *testing.B) { benchWildcard(b, "*") }

// BenchmarkQueues4Of5000 is BenchmarkWildcard5000 with the 4 queues that have jobs named
// in QUEUE, for the ratio: what QUEUE=* costs over a list.
func BenchmarkQueues4Of5000(b *testing.B) { benchWildcard(b, "busy0", "empty2500x", "m", "zz") }

func benchWildcard(b *testing.B, queues ...string) {
	srv := redistest.StartTB(b, redistest.Options{})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	ns := "wc:"
	k := NewKeys(ns)
	names := []any{k.Queues()}
	for i := range 5000 {
		names = append(names, "empty"+strconv.Itoa(i))
	}
	if _, err := conn.Do("SADD", names...); err != nil {
		b.Fatal(err)
	}
	c := NewClient(pool, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136})
	busy := []string{"busy0", "empty2500x", "m", "zz"}
	for i := range b.N {
		if _, err := c.Enqueue(context.Background(), busy[i%len(busy)], "Noop", PHPObject{{Key: "n", Value: 1}}, EnqueueOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	mux := NewMux()
	mux.HandleFunc("Noop", func(ctx context.Context, j *Job) error { return nil })
	w, err := NewWorker(pool, Config{Namespace: ns, Queues: queues, Interval: time.Second, Handler: mux, Hostname: "bench", Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	base0 := redisCPU(b, conn)
	time.Sleep(3 * time.Second) // Redis's own idle CPU, for comparison
	base1 := redisCPU(b, conn)
	cpu0 := redisCPU(b, conn)
	start := time.Now()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	for {
		v, _ := redis.Int(conn.Do("GET", k.Stat("processed")))
		if v >= b.N {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cpu1 := redisCPU(b, conn)
	time.Sleep(3 * time.Second)
	cpu2 := redisCPU(b, conn)
	w.Shutdown()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "redis-µs/job")
	b.ReportMetric((cpu2-cpu1)*1e6/3, "idle-redis-µs/s")
	b.ReportMetric((base1-base0)*1e6/3, "no-worker-redis-µs/s")
}

// redisCPU is the server's used CPU time in seconds (user + system).
func redisCPU(tb testing.TB, conn redis.Conn) float64 {
	info, err := redis.String(conn.Do("INFO", "cpu"))
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		for _, f := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), f); ok {
				x, _ := strconv.ParseFloat(v, 64)
				sum += x
			}
		}
	}
	return sum
}
