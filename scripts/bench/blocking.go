package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/measure"
	"github.com/goresque/goresque/resque"
)

// blockingTable: BLOCKING=1 at light load, one job every -blocking-every, so that every
// job finds all slots idle, each waiting on the queue: how many Redis commands a job costs
// when it wakes a crowd of idle slots, and how long from the enqueue to the handler's start.
func (b *bench) blockingTable(transports []string, rounds, n int, every time.Duration, slots []int) {
	res := make(map[string][]result)
	trips := make(map[string]result)
	for r := range rounds + 1 {
		for _, tp := range transports {
			for _, k := range slots {
				for _, bin := range b.noop {
					// The last round counts round trips with MONITOR, which costs Redis CPU: it
					// gives only that column.
					mon := r == rounds
					x, err := b.blocking(bin.path, tp, k, n, every, mon)
					if err != nil {
						fail(fmt.Errorf("blocking, %s, %d slots over %s, round %d: %w", bin.label(), k, tp, r+1, err))
					}
					key := tp + strconv.Itoa(k) + bin.name
					if mon {
						trips[key] = x
					} else {
						res[key] = append(res[key], x)
					}
				}
			}
		}
	}
	fmt.Printf("\n`BLOCKING=1`, light load: %d jobs, one every %v (Go handler, `GORESQUE_PHP=off`); pickup = enqueue to handler start;\n"+
		"round trips = commands the worker sent (MONITOR, one more round), calls = the same plus those scripts ran (INFO commandstats)\n\n", n, every)
	fmt.Println("| slots | Redis via | round trips/job | Redis calls/job | scripts/job | Redis CPU µs/job | worker CPU µs/job | pickup p50 ms | pickup p99 ms | round trips per job, by command | Redis calls per job, by command |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, tp := range transports {
		for _, k := range slots {
			for _, bin := range b.noop {
				key := tp + strconv.Itoa(k) + bin.name
				m, t := medianResult(res[key]), trips[key]
				name := strconv.Itoa(k)
				if bin.name != "" {
					name = bin.label() + ", " + name
				}
				fmt.Printf("| %s | %s | %.1f | %.1f | %.2f | %s | %s | %.2f | %.2f | %s | %s |\n", name, tp, t.trips, m.calls, m.scripts,
					thousands(m.redisUS), thousands(m.cpuUS), m.p50, m.p99, t.tripsPerCmd, m.perCmd)
			}
		}
	}
}

// blocking runs one round: start the worker, wait until every slot is registered and
// waiting, then enqueue n Bench_Latency jobs at a steady pace; the handler appends its start
// time to a file, read at the end.
func (b *bench) blocking(bin, transport string, slots, n int, every time.Duration, mon bool) (result, error) {
	b.seq++
	ns := "bench" + strconv.Itoa(b.seq)
	defer b.flush()
	keys := resque.NewKeys(ns)
	dir, err := os.MkdirTemp("", "bench-starts")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	starts := filepath.Join(dir, "starts")
	var out syncBuffer
	p, err := b.start([]string{bin, "work"}, []string{"QUEUE=bench", "BLOCKING=1", "GORESQUE_PHP=off",
		"GORESQUE_CONCURRENCY=" + strconv.Itoa(slots), "BENCH_STARTS=" + starts}, transport, ns, &out)
	if err != nil {
		return result{}, err
	}
	defer stop(p)
	pid := p.cmd.Process.Pid
	conn := b.pool.Get()
	defer conn.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if k, _ := redis.Int(conn.Do("SCARD", keys.Workers())); k >= slots {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			return result{}, fmt.Errorf("the worker did not register %d slots:\n%s", slots, tail(out.String()))
		}
	}
	time.Sleep(500 * time.Millisecond) // every slot reaches its wait
	c := resque.NewClient(b.pool, resque.ClientConfig{Namespace: ns})
	var m *monitor
	if mon {
		if m, err = b.startMonitor(); err != nil {
			return result{}, err
		}
	}
	own0 := b.counter.Snapshot()
	cpu0, _ := measure.Sum(measure.Tree(pid))
	before, err := measure.SampleRedis(conn)
	if err != nil {
		return result{}, err
	}
	sent := make(map[string]time.Time, n)
	t0 := time.Now()
	for i := range n {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * every)))
		at := time.Now()
		id, err := c.Enqueue(context.Background(), "bench", "Bench_Latency", nil, resque.EnqueueOptions{})
		if err != nil {
			return result{}, err
		}
		sent[id] = at
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if k, _ := redis.Int(conn.Do("GET", keys.Stat("processed"))); k >= n {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			return result{}, fmt.Errorf("not every job was processed in 30 s:\n%s", tail(out.String()))
		}
	}
	after, err := measure.SampleRedis(conn)
	if err != nil {
		return result{}, err
	}
	cpu1, _ := measure.Sum(measure.Tree(pid))
	var seen map[string]int64
	if m != nil {
		if seen, err = m.stop(conn); err != nil {
			return result{}, err
		}
	}
	own := measure.Sub(b.counter.Snapshot(), own0)
	d := measure.Diff(before, after, own)
	lat, err := latencies(starts, sent)
	if err != nil {
		return result{}, err
	}
	if len(lat) != n {
		return result{}, fmt.Errorf("%d of %d jobs wrote a start time", len(lat), n)
	}
	sort.Float64s(lat)
	t := clientCalls(seen, own)
	return result{
		trips: float64(t.Total()) / float64(n), tripsPerCmd: t.PerJob(n),
		jobs: n, calls: float64(d.Total()) / float64(n), scripts: float64(d.Scripts()) / float64(n), perCmd: d.PerJob(n),
		redisUS: float64(d.CPU.Microseconds()) / float64(n),
		cpuUS:   float64((cpu1 - cpu0).Microseconds()) / float64(n),
		p50:     lat[len(lat)/2], p99: lat[min(len(lat)-1, len(lat)*99/100)],
	}, nil
}

// latencies reads the handler's "<id> <unix ns>" lines and returns each job's pickup
// latency in ms.
func latencies(path string, sent map[string]time.Time) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, ns, ok := strings.Cut(sc.Text(), " ")
		at, ok2 := sent[id]
		if !ok || !ok2 {
			return nil, fmt.Errorf("starts file: unexpected line %q", sc.Text())
		}
		t, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("starts file: %q: %w", sc.Text(), err)
		}
		out = append(out, float64(time.Unix(0, t).Sub(at).Microseconds())/1000)
	}
	return out, sc.Err()
}
