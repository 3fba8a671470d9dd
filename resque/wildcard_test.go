package resque

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// ownServer is setup on a redis-server of the test's own, for tests that count the
// server's commands (INFO commandstats).
func ownServer(t *testing.T) *testBundle {
	t.Helper()
	srv := redistest.StartTB(t, redistest.Options{})
	pool := srv.Pool()
	t.Cleanup(func() { pool.Close() })
	conn := pool.Get()
	t.Cleanup(func() { conn.Close() })
	ns := redistest.Namespace(t)
	return &testBundle{srv: srv, pool: pool, ns: ns, keys: NewKeys(ns), client: NewClient(pool, ClientConfig{Namespace: ns, Dialect: DialectPHPResque136}), conn: conn}
}

// addQueues puts n queue names into the `queues` set, "<prefix>0000" on, without jobs.
func (b *testBundle) addQueues(t *testing.T, prefix string, n int) {
	t.Helper()
	args := []any{b.keys.Queues()}
	for i := range n {
		args = append(args, fmt.Sprintf("%s%04d", prefix, i))
	}
	if _, err := b.conn.Do("SADD", args...); err != nil {
		t.Fatal(err)
	}
}

func (b *testBundle) enqueueN(t *testing.T, queue string, n int) {
	t.Helper()
	for i := range n {
		if _, err := b.client.Enqueue(context.Background(), queue, "Rec", PHPObject{{Key: "n", Value: i}}, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// commandCalls is INFO commandstats as command -> calls, since the last CONFIG RESETSTAT.
func commandCalls(t *testing.T, c redis.Conn) map[string]int {
	t.Helper()
	info, err := redis.String(c.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		calls[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.Atoi(v)
	}
	return calls
}

// recorder is a handler that records the queue of every job, in order.
type recorder struct {
	mu     sync.Mutex
	queues []string
	delay  time.Duration
}

func (r *recorder) Perform(ctx context.Context, j *Job) error {
	time.Sleep(r.delay)
	r.mu.Lock()
	r.queues = append(r.queues, j.Queue)
	r.mu.Unlock()
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queues...)
}

// Issue 12 item 4: with QUEUE=* and 5,000 empty queues, a claim costs a bounded number of
// Redis calls, not one or two per queue (php-resque's reserve, and goresque before, made
// ~5,000 SISMEMBER and up to 5,000 LPOP per job).
func TestWildcardClaimCostIndependentOfEmptyQueues(t *testing.T) {
	t.Parallel()
	b := ownServer(t)
	b.addQueues(t, "e", 5000)
	const jobs = 300
	b.enqueueN(t, "e2500x", jobs) // in the middle of the sorted list
	if _, err := b.conn.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, &recorder{}, "*")
	cfg.Concurrency = 2
	cfg.Interval = time.Minute // no periodic scan: only the first and the one after the drain
	_, stop := b.start(t, cfg)
	// Up to 10 s: a worker that pays for every empty queue takes minutes, and is judged on
	// the jobs it did.
	for deadline := time.Now().Add(10 * time.Second); b.processed(t) < jobs && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	done := b.processed(t)
	if done == 0 {
		t.Fatal("no job performed in 10 s")
	}
	calls := commandCalls(t, b.conn)
	total := 0
	for _, n := range calls {
		total += n
	}
	// Per job: the claim script and the commands inside it; per scan (at most one at the
	// start, one after the drain and one per slot that found the list drained): SMEMBERS,
	// one EXISTS per 64 queues; start and stop: registration, prune, unregistration.
	scan := 1 + (5000+scanChunk-1)/scanChunk + scanChunk
	limit := done*20 + 4*scan + 200
	if total > limit || calls["lpop"] > done+4 || calls["sismember"] > 0 {
		t.Errorf("%d Redis calls for %d jobs (limit %d): %v", total, done, limit, calls)
	}
	if done != jobs {
		t.Errorf("%d of %d jobs performed in 10 s", done, jobs)
	}
}

// An idle QUEUE=* worker with many queues scans them at most once per Interval for the
// whole worker, not once per slot, and without a command per queue.
func TestWildcardIdlePollIsShared(t *testing.T) {
	t.Parallel()
	b := ownServer(t)
	b.addQueues(t, "e", 5000)
	cfg := b.config(t, &recorder{}, "*")
	cfg.Concurrency = 8
	cfg.Interval = 100 * time.Millisecond
	if _, err := b.conn.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, stop := b.start(t, cfg)
	time.Sleep(time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := commandCalls(t, b.conn)
	scans := int(time.Since(start)/cfg.Interval) + 2
	perScan := 1 + (5000+scanChunk-1)/scanChunk
	queueCalls := calls["exists"] + calls["llen"] + calls["lpop"] + calls["sismember"] + calls["smembers"]
	if queueCalls > scans*perScan {
		t.Errorf("%d calls on queues while idle for %v (at most %d scans of %d calls): exists %d, llen %d, lpop %d, sismember %d, smembers %d",
			queueCalls, time.Since(start).Round(time.Millisecond), scans, perScan, calls["exists"], calls["llen"], calls["lpop"], calls["sismember"], calls["smembers"])
	}
}

// Jobs in many queues are all performed, once each, and among the queues that have jobs
// the sorted order is the priority (php-resque's queues(): sort()).
func TestWildcardManyQueues(t *testing.T) {
	t.Parallel()
	t.Run("all performed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addQueues(t, "q", 200)
		for i := 0; i < 200; i += 2 {
			b.enqueueN(t, fmt.Sprintf("q%04d", i), 3)
		}
		rec := &recorder{}
		cfg := b.config(t, rec, "*")
		cfg.Concurrency = 4
		_, stop := b.start(t, cfg)
		b.waitFor(t, "the jobs", func() bool { return b.processed(t) >= 300 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, q := range rec.got() {
			count[q]++
		}
		for i := 0; i < 200; i++ {
			q, want := fmt.Sprintf("q%04d", i), 3*(1-i%2)
			if count[q] != want {
				t.Errorf("queue %s: %d jobs performed, want %d", q, count[q], want)
			}
		}
	})
	t.Run("priority", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addQueues(t, "q", 100)
		for _, q := range []string{"q0070", "q0010", "q0050"} {
			b.enqueueN(t, q, 3)
		}
		rec := &recorder{}
		_, stop := b.start(t, b.config(t, rec, "*"))
		b.waitFor(t, "the jobs", func() bool { return b.processed(t) == 9 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		want := "q0010 q0010 q0010 q0050 q0050 q0050 q0070 q0070 q0070"
		if got := strings.Join(rec.got(), " "); got != want {
			t.Errorf("order %s, want %s", got, want)
		}
	})
}

// A job pushed to a queue the last scan found empty, or to a queue created meanwhile, is
// found within about one Interval, idle or busy with other queues.
func TestWildcardFindsNewJobs(t *testing.T) {
	t.Parallel()
	t.Run("new queue, idle", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addQueues(t, "q", 100)
		cfg := b.config(t, &recorder{}, "*")
		cfg.Interval = 200 * time.Millisecond
		cfg.Concurrency = 2
		_, stop := b.start(t, cfg)
		time.Sleep(300 * time.Millisecond)
		b.enqueueN(t, "new", 1)
		b.waitFor(t, "the job", func() bool { return b.processed(t) == 1 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("empty queue of higher priority, busy", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.addQueues(t, "q", 100)
		const backlog = 400
		b.enqueueN(t, "q0099", backlog)
		rec := &recorder{delay: 5 * time.Millisecond}
		cfg := b.config(t, rec, "*")
		cfg.Interval = 200 * time.Millisecond
		_, stop := b.start(t, cfg)
		b.waitFor(t, "the backlog to start", func() bool { return b.processed(t) > 0 })
		b.enqueueN(t, "q0000", 1)
		b.waitFor(t, "the job of q0000", func() bool { return b.processed(t) == backlog+1 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := rec.got()
		at := -1
		for i, q := range got {
			if q == "q0000" {
				at = i
			}
		}
		// 400 jobs of 5 ms take 2 s or more; the scan after one Interval (200 ms) finds
		// q0000 while most of them are still queued.
		if at < 0 || at > backlog/2 {
			t.Errorf("the job of q0000 was performed as job %d of %d", at, len(got))
		}
	})
}

// A queue removed from the set (php-resque's Resque::removeQueue: DEL the list, SREM the
// name) is no longer polled, even when its key gets a job again without the set.
func TestWildcardRemovedQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addQueues(t, "q", 100)
	cfg := b.config(t, &recorder{}, "*")
	_, stop := b.start(t, cfg)
	b.enqueueN(t, "q0050", 1)
	b.waitFor(t, "the first job", func() bool { return b.processed(t) == 1 })
	b.do(t, []any{"DEL", b.keys.Queue("q0050")}, []any{"SREM", b.keys.Queues(), "q0050"},
		[]any{"RPUSH", b.keys.Queue("q0050"), `{"class":"Rec","args":[]}`})
	b.enqueueN(t, "q0051", 1)
	b.waitFor(t, "the job of q0051", func() bool { return b.processed(t) == 2 })
	time.Sleep(5 * cfg.Interval)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n, _ := redis.Int(b.conn.Do("LLEN", b.keys.Queue("q0050"))); n != 1 || b.processed(t) != 2 {
		t.Errorf("the removed queue was polled: %d jobs left in it, %d processed", n, b.processed(t))
	}
}

// BLOCKING with more queues than wildcardSmall watches none of them (one blocked
// connection per queue does not scale to thousands) and polls once a second instead.
func TestWildcardBlockingManyQueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addQueues(t, "q", 100)
	cfg := b.config(t, &recorder{}, "*")
	cfg.Blocking = true
	cfg.Interval = 5 * time.Second
	cfg.Concurrency = 2
	w, stop := b.start(t, cfg)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	b.enqueueN(t, "q0042", 1)
	b.waitFor(t, "the job", func() bool { return b.processed(t) == 1 })
	took := time.Since(start)
	if w.watch == nil {
		t.Fatal("no watcher: Redis without BLMOVE?")
	}
	w.watch.mu.Lock()
	watched := 0
	for _, q := range w.watch.queues {
		if q.active {
			watched++
		}
	}
	w.watch.mu.Unlock()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if watched > 0 {
		t.Errorf("%d queues watched", watched)
	}
	if took > 3*time.Second {
		t.Errorf("job picked up after %v, want about a second", took)
	}
}
