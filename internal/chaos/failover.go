package chaos

// The failover run: what a Redis failover does to goresque's jobs. It lives apart from
// Run (chaos.go), which kills workers; here the workers live and the master dies.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
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
	"github.com/goresque/goresque/resque/sentinel"
)

// FailoverConfig says what RunFailover does.
type FailoverConfig struct {
	Jobs        int // tracked jobs enqueued while the workers run
	Workers     int // worker processes (default 2)
	Concurrency int // GORESQUE_CONCURRENCY of each (default 2)
	Failovers   int // masters SIGKILLed (a replica promoted each time), spread over the run

	// WaitReplicas is GORESQUE_REDIS_WAIT_REPLICAS for the workers and the producer;
	// WaitTimeout GORESQUE_REDIS_WAIT_TIMEOUT (default 1s).
	WaitReplicas int
	WaitTimeout  time.Duration

	MaxSleep time.Duration // longest random sleep of a job
	Backlog  int           // the producer keeps at most this many jobs queued (default 200)
	// Rate paces the producer (jobs per second; 0: as fast as the backlog allows), so that
	// the run lasts long enough for every failover, and the restart after it, to meet
	// enqueues as well as claims and outcomes.
	Rate    float64
	Timeout time.Duration // the whole run (default 3 minutes)

	// HA is the replicated Redis the run uses (one master, at least one replica, three
	// sentinels); Ledger a separate server, never killed, where each execution of a job
	// is recorded (the Chaos_Job handler, EnvRedis).
	HA     *redistest.HA
	Ledger *redistest.Server

	// The worker program, as Config.Program/Argv0/Env: goresque with WorkerMux.
	Program []string
	Argv0   string
	Env     []string

	WorkerLog string    // the workers' logs (created, appended)
	Progress  io.Writer // a line per failover; nil: none
}

// FailoverEvent is one failover the run caused.
type FailoverEvent struct {
	AtJob    int // jobs acknowledged by then
	AtDone   int // jobs processed by then (stat:processed)
	From, To int // ports
	Took     time.Duration
}

// FailoverReport accounts for every job the producer was told it enqueued.
type FailoverReport struct {
	Jobs, WaitReplicas int
	Acked              int // enqueues acknowledged
	EnqueueErrors      int // enqueues that returned an error (retried as new jobs)
	Performed          int // ran, and status complete
	Duplicates         int // ran more than once
	Failed             int // in `failed`
	OutcomeLost        int // ran, but neither complete nor failed at the end
	Lost               int // acknowledged, never ran, nowhere to be found
	Stuck              int // never ran, still queued or in flight at the end
	LostIDs            []string
	Failovers          []FailoverEvent
	FailoverLogLines   int // worker log lines "redis failover"
	Elapsed            time.Duration
	Anomalies          []string
}

// JobsPerSecond is the throughput of the whole run, failovers included.
func (r *FailoverReport) JobsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Elapsed.Seconds()
}

// Print writes the report.
func (r *FailoverReport) Print(w io.Writer) {
	fmt.Fprintf(w, "GORESQUE_REDIS_WAIT_REPLICAS=%d: %d jobs acknowledged (%d enqueue errors), %d failovers, %.1fs, %.0f jobs/s\n",
		r.WaitReplicas, r.Acked, r.EnqueueErrors, len(r.Failovers), r.Elapsed.Seconds(), r.JobsPerSecond())
	for i, f := range r.Failovers {
		fmt.Fprintf(w, "  failover %d (%d jobs acknowledged, %d processed): master :%d SIGKILLed, :%d promoted in %.1fs\n", i+1, f.AtJob, f.AtDone, f.From, f.To, f.Took.Seconds())
	}
	fmt.Fprintf(w, "  performed %d, duplicated %d, failed %d, outcome lost %d, lost %d, stuck %d; worker failover log lines %d\n",
		r.Performed, r.Duplicates, r.Failed, r.OutcomeLost, r.Lost, r.Stuck, r.FailoverLogLines)
	if len(r.LostIDs) > 0 {
		fmt.Fprintf(w, "  lost: %s\n", strings.Join(r.LostIDs[:min(10, len(r.LostIDs))], " "))
	}
	for _, a := range r.Anomalies {
		fmt.Fprintf(w, "  anomaly: %s\n", a)
	}
}

// RunFailover enqueues cfg.Jobs tracked jobs from a producer (keeping a bounded backlog,
// so that enqueues, claims and outcomes all meet the failovers) while cfg.Workers goresque
// processes work them through Sentinel; after each share of the jobs it SIGKILLs the
// master, waits for the sentinels to promote a replica, and restarts the old master empty
// as a replica of the new one. Then it drains the queue, stops the workers with SIGQUIT
// and accounts for every acknowledged job.
func RunFailover(ctx context.Context, cfg FailoverConfig) (*FailoverReport, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = time.Second
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 200
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	h := cfg.HA
	rep := &FailoverReport{Jobs: cfg.Jobs, WaitReplicas: cfg.WaitReplicas}
	ns := fmt.Sprintf("fo%x", rand.Uint32())
	keys := resque.NewKeys(ns)
	runsKey := ns + ":runs:"
	const queue = "failover"

	d, err := sentinel.New(sentinel.Config{Sentinels: h.SentinelAddrs(), Master: h.Name, ResolveTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	pool := &redis.Pool{MaxIdle: 4, DialContext: d.DialContext,
		TestOnBorrowContext: func(_ context.Context, c redis.Conn, _ time.Time) error { return c.Err() }}
	defer pool.Close()
	// The producer writes like `goresque enqueue` does with the same settings.
	prodPool := &redis.Pool{MaxIdle: 2, DialContext: func(ctx context.Context) (redis.Conn, error) {
		c, err := d.DialContext(ctx)
		if err != nil {
			return nil, err
		}
		return sentinel.WaitReplicas(c, cfg.WaitReplicas, cfg.WaitTimeout), nil
	}, TestOnBorrowContext: func(_ context.Context, c redis.Conn, _ time.Time) error { return c.Err() }}
	defer prodPool.Close()
	ledger := &redis.Pool{MaxIdle: 2, Dial: func() (redis.Conn, error) { return redis.Dial("unix", cfg.Ledger.Socket) }}
	defer ledger.Close()
	do := func(p *redis.Pool, cmd string, args ...any) (any, error) {
		c, err := p.GetContext(ctx)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Do(cmd, args...)
	}

	logf, err := os.OpenFile(cfg.WorkerLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	note := func(format string, a ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", a...)
		}
	}

	// The workers.
	var procs []*exec.Cmd
	var dones []chan struct{}
	env := append(os.Environ(),
		"QUEUE="+queue, "INTERVAL=0.05", "PREFIX="+ns, "GORESQUE_PHP=off", "GORESQUE_LOG_FORMAT=json",
		"REDIS_BACKEND=sentinel://"+strings.Join(h.SentinelAddrs(), ",")+"/"+h.Name,
		"GORESQUE_CONCURRENCY="+strconv.Itoa(cfg.Concurrency),
		"GORESQUE_REDIS_WAIT_REPLICAS="+strconv.Itoa(cfg.WaitReplicas),
		"GORESQUE_REDIS_WAIT_TIMEOUT="+cfg.WaitTimeout.String(),
		EnvRedis+"=unix:"+cfg.Ledger.Socket, EnvRunsKey+"="+runsKey, EnvMaxSleep+"="+cfg.MaxSleep.String())
	env = append(env, cfg.Env...)
	defer func() {
		for i, p := range procs {
			_ = p.Process.Kill()
			<-dones[i]
		}
	}()
	for range cfg.Workers {
		cmd := exec.Command(cfg.Program[0], cfg.Program[1:]...)
		if cfg.Argv0 != "" {
			cmd.Args[0] = cfg.Argv0
		}
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = workerProcAttr() // dies with the driver on Linux
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("chaos: start worker: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		procs, dones = append(procs, cmd), append(dones, done)
	}

	// The producer starts once every worker slot is registered: a failover before that
	// would test start-up, not the traffic.
	for {
		n, err := redis.Int(do(pool, "SCARD", keys.Workers()))
		if err == nil && n >= cfg.Workers*cfg.Concurrency {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("chaos: the workers did not register (%d of %d slots): %v", n, cfg.Workers*cfg.Concurrency, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	var acked atomic.Int64
	var mu sync.Mutex
	var ids []string
	prodDone := make(chan error, 1)
	go func() {
		client := resque.NewClient(prodPool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque136})
		for i := 0; len(ids) < cfg.Jobs; i++ {
			if ctx.Err() != nil {
				prodDone <- ctx.Err()
				return
			}
			if i%20 == 0 {
				for {
					n, err := redis.Int(do(pool, "LLEN", keys.Queue(queue)))
					if err != nil || n < cfg.Backlog || ctx.Err() != nil {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if cfg.Rate > 0 {
				mu.Lock()
				n := len(ids)
				mu.Unlock()
				if d := time.Until(t0.Add(time.Duration(float64(n) / cfg.Rate * float64(time.Second)))); d > 0 {
					time.Sleep(d)
				}
			}
			id, err := client.Enqueue(ctx, queue, Class, map[string]any{"n": i}, resque.EnqueueOptions{Track: true})
			if err != nil {
				mu.Lock()
				rep.EnqueueErrors++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			acked.Add(1)
		}
		prodDone <- nil
	}()

	// The failovers, each once its share of the jobs is acknowledged: the producer is
	// then still enqueueing (its backlog is bounded), and the workers claim and finish.
	// A failover and the restart of the old master take seconds, during which the jobs go
	// on without WAIT: the next failover waits for a further share of the jobs after the
	// restart, so that every failover meets the producer (up to the last job).
	share := int64(cfg.Jobs / (cfg.Failovers + 1))
	next := share
	for i := range cfg.Failovers {
		at := min(next, int64(cfg.Jobs))
		for acked.Load() < at {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("chaos: timeout before failover %d (%d jobs acknowledged)", i+1, acked.Load())
			}
			time.Sleep(2 * time.Millisecond)
		}
		n, _ := redis.Int(do(pool, "GET", keys.Stat("processed")))
		ackedAt := int(acked.Load())
		start := time.Now()
		old, promoted, err := h.Failover(60 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("chaos: failover %d: %w", i+1, err)
		}
		ev := FailoverEvent{AtJob: ackedAt, AtDone: n, From: old.Port, To: promoted.Port, Took: time.Since(start)}
		note("failover %d: %d jobs acknowledged, %d processed: :%d killed, :%d promoted in %.1fs", i+1, ev.AtJob, ev.AtDone, ev.From, ev.To, ev.Took.Seconds())
		if err := h.Restart(old, promoted); err != nil {
			return nil, fmt.Errorf("chaos: restart the old master as a replica: %w", err)
		}
		rep.Failovers = append(rep.Failovers, ev)
		next = max(next+share, acked.Load()+share/2)
	}
	if err := <-prodDone; err != nil {
		return nil, fmt.Errorf("chaos: producer: %w (%d jobs acknowledged)", err, acked.Load())
	}

	// Drain: the queue empty and nothing in flight, twice in a row.
	empty := 0
	for empty < 2 {
		if ctx.Err() != nil {
			rep.Anomalies = append(rep.Anomalies, "timeout while draining the queue")
			break
		}
		q, err1 := redis.Int(do(pool, "LLEN", keys.Queue(queue)))
		f, err2 := redis.Int(do(pool, "HLEN", keys.InFlight()))
		if err1 == nil && err2 == nil && q == 0 && f == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep.Elapsed = time.Since(t0)
	for i, p := range procs {
		_ = p.Process.Signal(syscall.SIGQUIT)
		select {
		case <-dones[i]:
		case <-time.After(20 * time.Second):
			rep.Anomalies = append(rep.Anomalies, fmt.Sprintf("worker %d did not stop within 20s of SIGQUIT", p.Process.Pid))
		}
	}
	return rep, accountFailover(rep, ids, keys, queue, runsKey, func(cmd string, args ...any) (any, error) { return do(pool, cmd, args...) },
		func(cmd string, args ...any) (any, error) { return do(ledger, cmd, args...) }, cfg.WorkerLog)
}

func accountFailover(rep *FailoverReport, ids []string, keys resque.Keys, queue, runsKey string, master, ledger func(string, ...any) (any, error), logPath string) error {
	rep.Acked = len(ids)
	where := map[string]string{}
	queued, err := redis.ByteSlices(master("LRANGE", keys.Queue(queue), 0, -1))
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	for _, p := range queued {
		where[payloadJobID(p)] = "queued"
	}
	inflight, err := redis.ByteSlices(master("HVALS", keys.InFlight()))
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	for _, r := range inflight {
		var rec struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(r, &rec) == nil {
			where[payloadJobID(rec.Payload)] = "in flight"
		}
	}
	failed, err := redis.ByteSlices(master("LRANGE", keys.Failed(), 0, -1))
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	failedIDs := map[string]bool{}
	for _, r := range failed {
		var rec struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(r, &rec) == nil {
			failedIDs[payloadJobID(rec.Payload)] = true
		}
	}
	for _, id := range ids {
		runs, err := redis.Int(ledger("SCARD", runsKey+id))
		if err != nil {
			return fmt.Errorf("chaos: ledger: %w", err)
		}
		var st struct {
			Status int `json:"status"`
		}
		if b, err := redis.Bytes(master("GET", keys.JobStatus(id, ""))); err == nil {
			_ = json.Unmarshal(b, &st)
		} else if !errors.Is(err, redis.ErrNil) {
			return fmt.Errorf("chaos: %w", err)
		}
		if runs > 1 {
			rep.Duplicates++
		}
		switch {
		case failedIDs[id]:
			rep.Failed++
		case runs > 0 && resque.Status(st.Status) == resque.StatusComplete:
			rep.Performed++
		case runs > 0:
			rep.OutcomeLost++
		case where[id] != "":
			rep.Stuck++
		default:
			rep.Lost++
			rep.LostIDs = append(rep.LostIDs, id)
		}
	}
	sort.Strings(rep.LostIDs)
	if b, err := os.ReadFile(logPath); err == nil {
		rep.FailoverLogLines = strings.Count(string(b), "redis failover")
	}
	return nil
}

// payloadJobID reads a payload's "id".
func payloadJobID(p []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(p, &v)
	return v.ID
}
