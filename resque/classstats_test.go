package resque

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// TestClassStatsPerImplementation runs a Go class and a class the fallback (the PHP
// bridge's place) performs, with failures on both sides: the statistics must say exactly
// what ran, per implementation, and `classes` must see the Go class as ported while the
// worker is registered.
func TestClassStatsPerImplementation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := NewMux()
	fail := func(j *Job) error {
		if v, _ := j.Value("Fail"); v == true {
			return errors.New("asked to fail")
		}
		return nil
	}
	mux.HandleFunc(`App\Jobs\Ported`, func(ctx context.Context, j *Job) error { return fail(j) })
	mux.Fallback(HandlerFunc(func(ctx context.Context, j *Job) error { time.Sleep(2 * time.Millisecond); return fail(j) }))
	ctx := context.Background()
	const goJobs, goFails, phpJobs, phpFails = 30, 4, 20, 7
	for i := 0; i < goJobs; i++ {
		// A leading backslash and other case name the same PHP class.
		class := `App\Jobs\Ported`
		if i%2 == 1 {
			class = `\app\jobs\ported`
		}
		if _, err := b.client.Enqueue(ctx, "default", class, map[string]any{"Fail": i < goFails}, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < phpJobs; i++ {
		if _, err := b.client.Enqueue(ctx, "default", `App\Jobs\Legacy`, map[string]any{"Fail": i < phpFails}, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A payload without a class fails (in `failed`) but has no class to count.
	if _, err := b.conn.Do("RPUSH", b.keys.Queue("default"), `{"args":[]}`); err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, mux, "default")
	cfg.Concurrency = 3
	_, stop := b.start(t, cfg)
	b.waitFor(t, "all processed", func() bool { return b.processed(t) == goJobs+phpJobs+1 })

	rep, err := b.client.Classes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byClass := map[string]ClassInfo{}
	for _, ci := range rep.Classes {
		byClass[ci.Class] = ci
	}
	if !byClass[`App\Jobs\Ported`].Ported || byClass[`App\Jobs\Legacy`].Ported {
		t.Errorf("while the worker runs: ported = %+v", rep.Classes)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	rep, err = b.client.Classes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Classes) != 2 {
		t.Fatalf("classes = %+v, want 2", rep.Classes)
	}
	byClass = map[string]ClassInfo{}
	for _, ci := range rep.Classes {
		byClass[ci.Class] = ci
		if ci.Ported {
			t.Errorf("%s still ported after its worker unregistered", ci.Class)
		}
	}
	for _, tc := range []struct {
		class, impl, other string
		jobs, fails        int64
	}{
		{`App\Jobs\Ported`, ImplGo, ImplPHP, goJobs, goFails},
		{`App\Jobs\Legacy`, ImplPHP, ImplGo, phpJobs, phpFails},
	} {
		ci, ok := byClass[tc.class]
		if !ok {
			t.Fatalf("%s missing from %+v", tc.class, rep.Classes)
		}
		st := ci.Impl(tc.impl)
		if st.Jobs != tc.jobs || st.Failed != tc.fails {
			t.Errorf("%s %s: jobs %d failed %d, want %d and %d", tc.class, tc.impl, st.Jobs, st.Failed, tc.jobs, tc.fails)
		}
		if want := float64(tc.fails) / float64(tc.jobs); st.FailureRate != want {
			t.Errorf("%s: failure rate %v, want %v", tc.class, st.FailureRate, want)
		}
		if st.LastSeen == 0 || st.Seconds <= 0 || st.P50 <= 0 || st.P95 < st.P50 {
			t.Errorf("%s %s: %+v", tc.class, tc.impl, st)
		}
		if o := ci.Impl(tc.other); o.Jobs != 0 {
			t.Errorf("%s: %d jobs counted on %s", tc.class, o.Jobs, tc.other)
		}
		if ci.InFailed != tc.fails {
			t.Errorf("%s: %d in failed, want %d", tc.class, ci.InFailed, tc.fails)
		}
	}
	// Legacy's jobs sleep 2 ms: its p50 must say so (within the histogram's 25%).
	if p := byClass[`App\Jobs\Legacy`].Impl(ImplPHP).P50; p < 0.0015 {
		t.Errorf("Legacy p50 = %v s, want about 0.002 s or more", p)
	}
	// Both unported: the one with PHP time comes first.
	if rep.Classes[0].Class != `App\Jobs\Legacy` || rep.Classes[0].PortNext != 1 || rep.Classes[1].PortNext != 2 {
		t.Errorf("port-next order: %+v", rep.Classes)
	}
	if n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Handlers())); n != 0 {
		t.Errorf("goresque:handlers left behind after unregister")
	}
}

// TestClassStatsBounded pushes 10,000 distinct classes through a worker's table and its
// flushes: the table never holds more than the limit, and Redis keeps at most the limit's
// hashes plus the index, the most recently seen ones.
func TestClassStatsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const limit, classes = 1000, 10000
	cfg := b.config(t, NewMux(), "default")
	cfg.ClassStats = limit
	w, err := NewWorker(b.pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0)

	// Without flushes, the table stops at the limit and counts the rest as dropped.
	for i := 0; i < classes; i++ {
		w.stats.record(fmt.Sprintf("c%05d", i), ImplPHP, time.Millisecond, false, start)
	}
	rows, dropped := w.stats.take()
	if len(rows) != limit || dropped != classes-limit {
		t.Fatalf("table: %d rows, %d dropped; want %d and %d", len(rows), dropped, limit, classes-limit)
	}

	// With flushes every 500 classes, Redis holds the last `limit` classes seen.
	var flushConn redis.Conn
	defer func() { flushConn.Close() }()
	for i := 0; i < classes; i++ {
		w.stats.record(fmt.Sprintf("c%05d", i), ImplPHP, time.Millisecond, i%3 == 0, start.Add(time.Duration(i)*time.Second))
		if i%500 == 499 {
			if err := w.flushClassStats(ctx, &flushConn); err != nil {
				t.Fatal(err)
			}
		}
	}
	var keys []string
	iter := 0
	for {
		vals, err := redis.Values(b.conn.Do("SCAN", iter, "MATCH", b.ns+"goresque:class*", "COUNT", 1000))
		if err != nil {
			t.Fatal(err)
		}
		iter, _ = redis.Int(vals[0], nil)
		ks, _ := redis.Strings(vals[1], nil)
		keys = append(keys, ks...)
		if iter == 0 {
			break
		}
	}
	if len(keys) != limit+1 {
		t.Errorf("%d statistics keys, want %d hashes + the index", len(keys), limit)
	}
	n, err := redis.Int(b.conn.Do("ZCARD", b.keys.Classes()))
	if err != nil || n != limit {
		t.Errorf("index holds %d classes (%v), want %d", n, err, limit)
	}
	oldest, _ := redis.Strings(b.conn.Do("ZRANGE", b.keys.Classes(), 0, 0))
	if len(oldest) != 1 || oldest[0] != fmt.Sprintf("c%05d", classes-limit) {
		t.Errorf("oldest class kept = %v, want c%05d", oldest, classes-limit)
	}
	for _, k := range []string{b.keys.Classes(), b.keys.Class(fmt.Sprintf("c%05d", classes-1))} {
		if ttl, _ := redis.Int(b.conn.Do("TTL", k)); ttl <= 0 || ttl > int(classStatsTTL/time.Second) {
			t.Errorf("%s: TTL %d", k, ttl)
		}
	}
	if ok, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Class("c00000"))); ok != 0 {
		t.Error("a trimmed class's hash is still there")
	}
}

// TestDurationPercentile checks the histogram's promise: p50 and p95 read from it are
// within 25% of the exact ones.
func TestDurationPercentile(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []float64{3, 800, 50_000, 4e6} {
		h := make([]int64, durationBuckets)
		var xs []int64
		for i := 0; i < 5000; i++ {
			us := int64(scale * math.Exp(r.NormFloat64()))
			xs = append(xs, us)
			b := durationBucket(us)
			if lo, hi := bucketBounds(b); float64(us) < lo || float64(us) >= hi && us > 0 {
				t.Fatalf("%d µs in bucket %d = [%v, %v)", us, b, lo, hi)
			}
			h[b]++
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
		for _, p := range []float64{0.5, 0.95} {
			exact := float64(xs[int(p*float64(len(xs)))-1])
			got := percentile(h, p)
			if math.Abs(got-exact) > 0.25*exact+1 {
				t.Errorf("scale %v p%v: %v µs, exact %v µs", scale, p*100, got, exact)
			}
		}
	}
}

// countingConn counts the commands sent through it (Do with a command, and Send).
type countingConn struct {
	redis.Conn
	sent []string
}

func (c *countingConn) Do(cmd string, args ...any) (any, error) {
	if cmd != "" {
		c.sent = append(c.sent, cmd)
	}
	return c.Conn.Do(cmd, args...)
}

func (c *countingConn) Send(cmd string, args ...any) error {
	c.sent = append(c.sent, cmd)
	return c.Conn.Send(cmd, args...)
}

// A flush is one command whatever the number of classes (it was a pipeline of about ten
// per class: at light load, more calls per second than the jobs' own), and a class's
// "last seen" in the index never goes back when a worker writes an older time.
func TestClassStatsFlushIsOneCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, err := NewWorker(b.pool, b.config(t, NewMux(), "default"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn := &countingConn{Conn: b.pool.Get()}
	defer conn.Close()
	held := redis.Conn(conn)
	at := time.Unix(1_800_000_000, 0)
	for round := 0; round < 2; round++ { // the first may load the script (NOSCRIPT, EVAL)
		conn.sent = nil
		for i := 0; i < 20; i++ {
			for _, impl := range []string{ImplGo, ImplPHP} {
				w.stats.record(fmt.Sprintf("c%02d", i), impl, time.Duration(i+1)*time.Millisecond, i%2 == 0, at.Add(-time.Duration(round)*time.Hour))
			}
		}
		if err := w.flushClassStats(ctx, &held); err != nil {
			t.Fatal(err)
		}
	}
	if len(conn.sent) != 1 {
		t.Errorf("a flush of 40 rows sent %v, want one command", conn.sent)
	}
	got, err := redis.StringMap(b.conn.Do("HGETALL", b.keys.Class("c03")))
	if err != nil || got["go:jobs"] != "2" || got["php:jobs"] != "2" || got["go:failed"] != "0" || got["php:us"] != "8000" || got["name"] != "c03" {
		t.Errorf("c03 = %v (%v)", got, err)
	}
	if got["php:last"] != strconv.FormatInt(at.Unix(), 10) {
		t.Errorf("php:last %s, want %d: an older write moved it back", got["php:last"], at.Unix())
	}
	if score, _ := redis.Int64(b.conn.Do("ZSCORE", b.keys.Classes(), "c03")); score != at.Unix() {
		t.Errorf("last seen %d, want %d: an older write moved it back", score, at.Unix())
	}
}
