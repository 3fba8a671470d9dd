package resque

import (
	"context"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// BenchmarkWorkerDrain drains b.N tracked no-op jobs with one worker slot and full
// bookkeeping. scripts/bench compares slot counts with the Redis floor; this one is for
// profiling (-cpuprofile).
func BenchmarkWorkerDrain(b *testing.B) { benchDrain(b, Config{Concurrency: 1}, nil) }

// BenchmarkWorkerDrain8 is BenchmarkWorkerDrain with eight slots.
func BenchmarkWorkerDrain8(b *testing.B) { benchDrain(b, Config{Concurrency: 8}, nil) }

// BenchmarkWorkerDrainNoClassStats and BenchmarkWorkerDrain8NoClassStats turn the
// per-class statistics off: the difference to the ones above is their per-job cost.
func BenchmarkWorkerDrainNoClassStats(b *testing.B) {
	benchDrain(b, Config{Concurrency: 1, ClassStats: -1}, nil)
}
func BenchmarkWorkerDrain8NoClassStats(b *testing.B) {
	benchDrain(b, Config{Concurrency: 8, ClassStats: -1}, nil)
}

// benchDrain drains b.N tracked no-op jobs of class Noop with a worker configured as cfg
// (its concurrency and class statistics); setup, when not nil, adds to the Mux that holds
// the no-op handler.
func benchDrain(b *testing.B, cfg Config, setup func(*Mux)) {
	srv := server(b)
	pool := srv.Pool()
	defer pool.Close()
	// A namespace per run: stat:processed of an earlier run (b.N grows) would end the
	// wait below early.
	ns := redistest.Namespace(b)
	c := NewClient(pool, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136})
	for range b.N {
		if _, err := c.Enqueue(context.Background(), "q", "Noop", PHPObject{{Key: "n", Value: 1}}, EnqueueOptions{Track: true}); err != nil {
			b.Fatal(err)
		}
	}
	mux := NewMux()
	mux.HandleFunc("Noop", func(ctx context.Context, j *Job) error { return nil })
	if setup != nil {
		setup(mux)
	}
	cfg.Namespace, cfg.Queues, cfg.Interval, cfg.Handler, cfg.Hostname = ns, []string{"q"}, time.Millisecond, mux, "bench"
	w, err := NewWorker(pool, cfg)
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

// BenchmarkWorkerDrainRouted is BenchmarkWorkerDrainUnrouted with a routing rule (go:50%)
// on the class, which has a Go handler and a fallback (a Go no-op standing in for the PHP
// bridge): the per-job cost of the routing decision and of recording the side.
func BenchmarkWorkerDrainRouted(b *testing.B) { benchDrainRoute(b, true) }

// BenchmarkWorkerDrainUnrouted is the same drain without a rule, to compare in one run.
func BenchmarkWorkerDrainUnrouted(b *testing.B) { benchDrainRoute(b, false) }

func benchDrainRoute(b *testing.B, routed bool) {
	benchDrain(b, Config{}, func(m *Mux) {
		m.Fallback(HandlerFunc(func(ctx context.Context, j *Job) error { return nil }))
		if routed {
			m.SetRoute("Noop", 50)
		}
	})
}

// BenchmarkRouteDecision is the routing decision alone (Worker.implementation) for a job
// of a routed class: a map lookup and an FNV hash of the id.
func BenchmarkRouteDecision(b *testing.B) {
	noop := func(ctx context.Context, j *Job) error { return nil }
	mux := NewMux()
	mux.HandleFunc(`App\Jobs\SendMail`, noop)
	mux.Fallback(HandlerFunc(noop))
	mux.SetRoute(`App\Jobs\SendMail`, 30)
	w := &Worker{cfg: Config{Handler: mux}}
	job, err := NewJob("q", []byte(`{"class":"App\\Jobs\\SendMail","args":[],"id":"`+NewJobID()+`"}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		job.impl = w.implementation(job)
	}
}

// BenchmarkClassStatsRecord is the per-job cost of the per-class statistics alone: one
// record into the worker's table, from 8 goroutines at once (the slots).
func BenchmarkClassStatsRecord(b *testing.B) {
	s := newClassStats(DefaultClassStatsLimit)
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.record(`App\Jobs\SendMail`, ImplGo, time.Duration(i)*time.Microsecond, i%50 == 0, now)
			i++
		}
	})
}
