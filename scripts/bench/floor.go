package main

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/measure"
	"github.com/goresque/goresque/resque"
)

// floorTable measures the floor: a job's bookkeeping as plain Redis commands, sent by k
// connections as one pipeline per job, in this process. It is what Redis itself costs for
// php-resque's writes with the fewest round trips, without atomicity: the reference for
// the "Redis CPU µs/job" column.
func (b *bench) floorTable(transports []string, rounds, n int) {
	type cfg struct {
		conns int
		track bool
	}
	cfgs := []cfg{{1, false}, {8, false}, {1, true}, {8, true}}
	res := map[string][]result{}
	key := func(tp string, c cfg) string { return fmt.Sprint(tp, c.conns, c.track) }
	for range rounds {
		for _, tp := range transports {
			for _, c := range cfgs {
				r, err := b.floor(tp, c.conns, c.track, n)
				if err != nil {
					fail(fmt.Errorf("floor over %s: %w", tp, err))
				}
				res[key(tp, c)] = append(res[key(tp, c)], r)
			}
		}
	}
	fmt.Printf("\nFloor: the same per-job commands as plain pipelines from this process, one round trip per job (%s jobs)\n\n", thousands(float64(n)))
	fmt.Println("| floor | Redis via | jobs/s | client CPU µs/job | Redis CPU µs/job | Redis calls/job | commands per job |")
	fmt.Println("|---|---|---:|---:|---:|---:|---|")
	for _, tp := range transports {
		for _, c := range cfgs {
			m := medianResult(res[key(tp, c)])
			name := fmt.Sprintf("%d connection", c.conns)
			if c.conns > 1 {
				name += "s"
			}
			if c.track {
				name += ", tracked"
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %.1f | %s |\n", name, tp, thousands(m.rate), thousands(m.cpuUS),
				thousands(m.redisUS), m.calls, m.perCmd)
		}
	}
}

// floor drains n jobs with k connections. Per job: LPOP, SET worker, HSET in-flight, SET
// pid; when tracked GET and SET status twice and EXPIRE; DEL pid, INCRBY x2, DEL worker,
// HDEL in-flight.
func (b *bench) floor(transport string, k int, track bool, n int) (result, error) {
	b.seq++
	ns := "bench" + strconv.Itoa(b.seq)
	defer b.flush()
	s := system{jobs: n, class: "Bench_Noop", queues: []string{"bench"}, track: track, dialect: resque.DialectPHPResque136}
	if err := b.fill(ns, s); err != nil {
		return result{}, err
	}
	network, addr := "unix", b.srv.Socket
	if transport == "tcp" {
		network, addr = "tcp", fmt.Sprintf("127.0.0.1:%d", b.srv.Port)
	}
	keys := resque.NewKeys(ns)
	conn := b.pool.Get()
	defer conn.Close()
	own0 := b.counter.Snapshot()
	before, err := measure.SampleRedis(conn)
	if err != nil {
		return result{}, err
	}
	self0 := selfCPU()
	start := time.Now()
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := redis.Dial(network, addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			id := fmt.Sprintf("bench_%d:1:bench", i)
			jid := "0123456789abcdef0123456789abcdef"
			status, pid := keys.JobStatus(jid, ""), keys.JobPID(jid)
			var cmds [][]any
			cmds = append(cmds,
				[]any{"LPOP", keys.Queue("bench")},
				[]any{"SET", keys.Worker(id), `{"queue":"bench","run_at":"2026-11-26T00:00:00+00:00","payload":{}}`},
				[]any{"HSET", keys.InFlight(), id, `{"queue":"bench"}`},
				[]any{"SET", pid, "1"})
			if track {
				cmds = append(cmds,
					[]any{"GET", status},
					[]any{"SET", status, `{"status":2,"updated":1,"started":1,"result":null}`},
					[]any{"GET", status},
					[]any{"SET", status, `{"status":4,"updated":1,"started":1,"result":null}`},
					[]any{"EXPIRE", status, 86400})
			}
			cmds = append(cmds,
				[]any{"DEL", pid},
				[]any{"INCRBY", keys.Stat("processed"), 1},
				[]any{"INCRBY", keys.WorkerStat("processed", id), 1},
				[]any{"DEL", keys.Worker(id)},
				[]any{"HDEL", keys.InFlight(), id})
			for left.Add(-1) >= 0 {
				for _, cmd := range cmds {
					if err := c.Send(cmd[0].(string), cmd[1:]...); err != nil {
						errs <- err
						return
					}
				}
				if _, err := c.Do(""); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	self := selfCPU() - self0
	after, err := measure.SampleRedis(conn)
	if err != nil {
		return result{}, err
	}
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	d := measure.Diff(before, after, measure.Sub(b.counter.Snapshot(), own0))
	return result{
		jobs: n, rate: float64(n) / elapsed.Seconds(),
		cpuUS:   float64(self.Microseconds()) / float64(n),
		redisUS: float64(d.CPU.Microseconds()) / float64(n),
		calls:   float64(d.Total()) / float64(n),
		perCmd:  d.PerJob(n),
	}, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
