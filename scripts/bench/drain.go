package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/measure"
	"github.com/goresque/goresque/resque"
)

// system is one row: a worker started as a real process tree that drains a pre-filled
// queue.
type system struct {
	name    string
	jobs    int
	class   string
	queues  []string // the jobs are spread over these, round robin
	names   int      // with QUEUE=*: this many queue names in the queues set in all
	track   bool     // enqueued with status tracking (Resque::enqueue's $trackStatus)
	dialect resque.Dialect
	argv    []string // the command line
	env     []string // besides REDIS_BACKEND and PREFIX
	idle    time.Duration
}

// result is one round of one row.
type result struct {
	jobs    int     // processed within the round
	rate    float64 // jobs/s from the process start to the last job processed
	cpuUS   float64 // the process tree's CPU per job
	redisUS float64 // Redis's CPU per job
	calls   float64 // Redis commands per job, those inside scripts included
	scripts float64 // script calls (EVALSHA, EVAL, FCALL) per job
	perCmd  string
	rss     int64 // the tree's peak resident bytes
	capped  bool  // -max-round ended the round before the queue was empty

	// idle (QUEUE=*): after the drain, all queues empty
	idleRedisMS  float64 // Redis CPU ms per second
	idleCallsSec float64 // Redis commands per second
	idlePerCmd   string
	idlePollUS   float64 // Redis CPU per script call while idle (the worker's poll)

	p50, p99 float64 // blocking: pickup latency, ms

	trips       float64 // blocking, MONITOR round: commands clients sent per job (no script's inner ones)
	tripsPerCmd string
}

// fill enqueues n jobs as Resque::enqueue does (SADD queues, RPUSH, SET status when
// tracked), spread over s.queues, with 8 concurrent pushers; with s.names it also registers
// that many queue names in total (empty queues, as php-resque leaves them).
func (b *bench) fill(ns string, s system) error {
	c := resque.NewClient(b.pool, resque.ClientConfig{Namespace: ns, Dialect: s.dialect})
	conn := b.pool.Get()
	defer conn.Close()
	if s.names > len(s.queues) {
		args := []any{c.Keys().Queues()}
		for i := range s.names - len(s.queues) {
			args = append(args, fmt.Sprintf("empty%05d", i))
		}
		if _, err := conn.Do("SADD", args...); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(s.jobs) {
					return
				}
				q := s.queues[int(i)%len(s.queues)]
				if _, err := c.Enqueue(context.Background(), q, s.class, resque.PHPObject{{Key: "n", Value: 1}}, resque.EnqueueOptions{Track: s.track}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("fill: %w", err)
	default:
		return nil
	}
}

// proc is a started process tree; done closes when its first process has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start starts argv with env in its own process group, REDIS_BACKEND and PREFIX set.
func (b *bench) start(argv, env []string, transport, ns string, out *syncBuffer) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "REDIS_BACKEND="+b.backend(transport), "PREFIX="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after 10 s (and for php-resque's
// COUNT children, which outlive their parent).
func stop(p *proc) {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	time.Sleep(100 * time.Millisecond)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

// peakSampler samples the tree's resident size every 20 ms until stopped. The tree's
// members are found (a scan of all of /proc, 5-7 ms here) every 250 ms only, and each
// sample reads their statm alone: scanning /proc every 20 ms took a quarter to a third of
// a core away from the measured worker and Redis on this 2-core machine.
type peakSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func samplePeak(pid int) *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var members []int
		var found time.Time
		for {
			if time.Since(found) >= 250*time.Millisecond {
				members = members[:0]
				for _, m := range measure.Tree(pid) {
					members = append(members, m.PID)
				}
				found = time.Now()
			}
			if rss := measure.Resident(members); rss > p.peak.Load() {
				p.peak.Store(rss)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakSampler) finish() int64 {
	close(p.stop)
	<-p.done
	return p.peak.Load()
}

// drain runs one round of s over transport: fill a fresh namespace, start the process,
// poll stat:processed until it reaches s.jobs (or -max-round passes), and read
// the tree's CPU and Redis's counters at that moment.
func (b *bench) drain(s system, transport string) (result, error) {
	b.seq++
	ns := "bench" + strconv.Itoa(b.seq)
	defer b.flush()
	if err := b.fill(ns, s); err != nil {
		return result{}, err
	}
	conn := b.pool.Get()
	defer conn.Close()
	own0 := b.counter.Snapshot()
	before, err := measure.SampleRedis(conn)
	if err != nil {
		return result{}, err
	}
	var out syncBuffer
	start := time.Now()
	p, err := b.start(s.argv, s.env, transport, ns, &out)
	if err != nil {
		return result{}, err
	}
	defer stop(p)
	pid := p.cmd.Process.Pid
	peak := samplePeak(pid)
	keys := resque.NewKeys(ns)
	processed := keys.Stat("processed")
	last, lastAt := 0, start
	deadline := start.Add(b.maxRound)
	for {
		n, err := redis.Int(conn.Do("GET", processed))
		if err != nil && err != redis.ErrNil {
			peak.finish()
			return result{}, err
		}
		now := time.Now()
		if n > last {
			last, lastAt = n, now
		}
		if n >= s.jobs || now.After(deadline) {
			break
		}
		if p.exited() {
			peak.finish()
			return result{}, fmt.Errorf("%s exited after %d of %d jobs:\n%s", s.name, n, s.jobs, tail(out.String()))
		}
		if now.Sub(lastAt) > 30*time.Second {
			peak.finish()
			return result{}, fmt.Errorf("%s: %d of %d jobs, none for 30 s:\n%s", s.name, n, s.jobs, tail(out.String()))
		}
		// Poll often enough that the end is known to 0.1% of the round, rarely enough that
		// the polls cost Redis next to nothing for the slow rows (20 ms: 50 GETs/s).
		time.Sleep(min(max(now.Sub(start)/1000, time.Millisecond), 20*time.Millisecond))
	}
	cpu, _ := measure.Sum(measure.Tree(pid))
	after, err := measure.SampleRedis(conn)
	rss := peak.finish()
	if err != nil {
		return result{}, err
	}
	if last == 0 {
		return result{}, fmt.Errorf("%s: no job processed in %v:\n%s", s.name, b.maxRound, tail(out.String()))
	}
	d := measure.Diff(before, after, measure.Sub(b.counter.Snapshot(), own0))
	if failed, _ := redis.Int(conn.Do("GET", keys.Stat("failed"))); failed > 0 {
		return result{}, fmt.Errorf("%s: %d jobs failed:\n%s", s.name, failed, tail(out.String()))
	}
	r := result{
		jobs:    last,
		rate:    float64(last) / lastAt.Sub(start).Seconds(),
		cpuUS:   float64(cpu.Microseconds()) / float64(last),
		redisUS: float64(d.CPU.Microseconds()) / float64(last),
		calls:   float64(d.Total()) / float64(last),
		scripts: float64(d.Scripts()) / float64(last),
		perCmd:  d.PerJob(last),
		rss:     rss,
		capped:  last < s.jobs,
	}
	if s.idle > 0 {
		if err := b.idleRound(conn, ns, s, &r); err != nil {
			return result{}, err
		}
	}
	return r, nil
}

// idleRound waits until the queues are empty, then measures Redis over s.idle with the
// worker still running: its idle polls' cost.
func (b *bench) idleRound(conn redis.Conn, ns string, s system, r *result) error {
	if r.capped {
		// Empty the queues ourselves: the idle cost is that of empty queues.
		for _, q := range s.queues {
			if _, err := conn.Do("DEL", resque.NewKeys(ns).Queue(q)); err != nil {
				return err
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // the last jobs finish, the slots go idle
	own0 := b.counter.Snapshot()
	before, err := measure.SampleRedis(conn)
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(s.idle)
	after, err := measure.SampleRedis(conn)
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	d := measure.Diff(before, after, measure.Sub(b.counter.Snapshot(), own0))
	r.idleRedisMS = float64(d.CPU.Microseconds()) / 1000 / secs
	r.idleCallsSec = float64(d.Total()) / secs
	r.idlePerCmd = perSecond(d, secs)
	if polls := d.Scripts(); polls > 0 {
		r.idlePollUS = float64(d.CPU.Microseconds()) / float64(polls)
	}
	return nil
}

func perSecond(d measure.Delta, secs float64) string {
	type kv struct {
		k string
		v int64
	}
	var s []kv
	for k, v := range d.Calls {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v || s[i].v == s[j].v && s[i].k < s[j].k })
	out := ""
	for _, e := range s {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %.1f/s", e.k, float64(e.v)/secs)
	}
	return out
}

// tail is the end of a process's output, for an error message.
func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
