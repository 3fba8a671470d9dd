package resque

import (
	"context"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// BenchmarkWorkerDrain drains b.N tracked no-op jobs with one worker slot and full
// bookkeeping. scripts/bench compares slot counts with the Redis floor; this one is for
// profiling (-cpuprofile).
func BenchmarkWorkerDrain(b *testing.B) { benchDrain(b, 1) }

// BenchmarkWorkerDrain8 is BenchmarkWorkerDrain with eight slots.
func BenchmarkWorkerDrain8(b *testing.B) { benchDrain(b, 8) }

func benchDrain(b *testing.B, concurrency int) {
	srv := server(b)
	pool := srv.Pool()
	defer pool.Close()
	ns := "bench-drain:"
	c := NewClient(pool, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136})
	for range b.N {
		if _, err := c.Enqueue(context.Background(), "q", "Noop", PHPObject{{Key: "n", Value: 1}}, EnqueueOptions{Track: true}); err != nil {
			b.Fatal(err)
		}
	}
	mux := NewMux()
	mux.HandleFunc("Noop", func(ctx context.Context, j *Job) error { return nil })
	w, err := NewWorker(pool, Config{Namespace: ns, Queues: []string{"q"}, Interval: time.Millisecond, Handler: mux, Hostname: "bench", Concurrency: concurrency})
	if err != nil {
		b.Fatal(err)
	}
	conn := pool.Get()
	defer conn.Close()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	for {
		v, _ := redis.Int(conn.Do("GET", ns+"stat:processed"))
		if v >= b.N {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	w.Shutdown()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
