package resque

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

func TestParseRetries(t *testing.T) {
	got, err := ParseRetries(` App\Jobs\SendMail=5:exp:10s ; Other=3:fixed:1m;\Capped=4:exp:1s:3s:jitter;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d policies", len(got))
	}
	m := got[classKey(`app\jobs\sendmail`)]
	if m.Attempts != 5 || m.Jitter || m.Backoff(1) != 10*time.Second || m.Backoff(4) != 80*time.Second {
		t.Errorf("SendMail = %+v", m)
	}
	o := got[classKey("Other")]
	if o.Attempts != 3 || o.Backoff(1) != time.Minute || o.Backoff(2) != time.Minute {
		t.Errorf("Other = %+v", o)
	}
	c := got[classKey("Capped")]
	if c.Attempts != 4 || !c.Jitter || c.Backoff(1) != time.Second || c.Backoff(2) != 2*time.Second || c.Backoff(3) != 3*time.Second || c.Backoff(60) != 3*time.Second {
		t.Errorf("Capped = %+v", c)
	}
	for _, bad := range []string{"A", "A=", "=3:fixed:1s", "A=x:fixed:1s", "A=0:fixed:1s", "A=3:fixed", "A=3:lin:1s",
		"A=3:fixed:1s:2s", "A=3:exp:ten", "A=3:fixed:-1s", "A=2:fixed:1s;a=3:fixed:1s"} {
		if _, err := ParseRetries(bad); err == nil {
			t.Errorf("ParseRetries(%q) accepted", bad)
		}
	}
}

func TestRetryNext(t *testing.T) {
	r := Retry{Attempts: 3, Backoff: Exponential(10*time.Second, 0), Jitter: true,
		RetryOn: func(je *JobError) bool { return je.Exception != "Fatal" }}
	for i := 0; i < 100; i++ {
		d, ok := r.next(2, &JobError{Exception: "Exception"})
		if !ok || d < 10*time.Second || d > 20*time.Second {
			t.Fatalf("next(2) = %v, %v; want 10s..20s", d, ok)
		}
	}
	if _, ok := r.next(3, &JobError{}); ok {
		t.Error("retried after the last attempt")
	}
	if _, ok := r.next(1, &JobError{Exception: "Fatal"}); ok {
		t.Error("retried a failure RetryOn refuses")
	}
	if d := Exponential(time.Second, 0)(200); d <= 0 {
		t.Errorf("Exponential overflowed: %v", d)
	}
}

// A job whose class has Retry{Attempts: 3} is performed three times through the delayed
// queue and lands in `failed` once; between attempts it is not in `failed`, not in flight,
// its status says waiting, and the delayed item is the one ResqueScheduler::enqueueAt
// writes plus goresque's keys.
func TestRetryThenFailed(t *testing.T) {
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String(), func(t *testing.T) { t.Parallel(); testRetryThenFailed(t, d) })
	}
}

func testRetryThenFailed(t *testing.T, d Dialect) {
	b := setup(t)
	client := NewClient(b.pool, ClientConfig{Namespace: b.ns, Dialect: d})
	mux := NewMux()
	var mu sync.Mutex
	var seen []int
	mux.HandleFunc(`App\Flaky`, func(ctx context.Context, job *Job) error {
		mu.Lock()
		seen = append(seen, job.Attempt())
		mu.Unlock()
		return &JobError{Exception: "RuntimeException", Message: "boom"}
	})
	mux.SetRetry(`\app\flaky`, Retry{Attempts: 3, Backoff: Fixed(0)})
	id, err := client.Enqueue(bg, "rq", `App\Flaky`, map[string]any{"n": 1}, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewScheduler(b.pool, SchedulerConfig{Namespace: b.ns, Dialect: d, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.config(t, mux, "rq")
	cfg.Dialect = d
	_, stop := b.start(t, cfg)
	sched := b.keys.DelayedSchedule()
	for n := 2; n <= 3; n++ {
		b.waitFor(t, fmt.Sprintf("retry %d scheduled", n), func() bool {
			c, _ := redis.Int(b.conn.Do("ZCARD", sched))
			return c == 1
		})
		if f := b.failedEntries(t); len(f) != 0 || b.getInt(t, b.keys.Stat("failed")) != 0 {
			t.Fatalf("attempt %d: failed = %v, stat:failed = %d; want nothing before the last attempt", n-1, f, b.getInt(t, b.keys.Stat("failed")))
		}
		if h, _ := redis.Int(b.conn.Do("HLEN", b.keys.InFlight())); h != 0 {
			t.Fatalf("attempt %d: still in flight", n-1)
		}
		if st, err := client.Status(bg, id, ""); err != nil || st.Status != StatusWaiting || st.Attempt != n {
			t.Fatalf("attempt %d: status %+v, %v; want waiting for attempt %d", n-1, st, err, n)
		}
		ds, err := client.DelayedRange(bg, 0, -1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("delayed = %v, %v", ds, err)
		}
		want := `{"class":"App\\Flaky","args":[{"n":1}],"queue":"rq","id":"` + id + `","goresque_attempt":` + strconv.Itoa(n) + `}`
		if d := ds[0]; string(d.Payload) != want || d.Class != `App\Flaky` || d.Queue != "rq" || string(d.Args) != `[{"n":1}]` {
			t.Fatalf("delayed item %+v, payload %s; want %s", d, d.Payload, want)
		}
		b.waitFor(t, "the retry moved", func() bool {
			moved, err := s.Pass(bg)
			if err != nil {
				t.Fatal(err)
			}
			return moved == 1
		})
	}
	b.waitFor(t, "the last failure", func() bool { return len(b.failedEntries(t)) == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[1 2 3]" {
		t.Errorf("attempts seen by the handler: %v", seen)
	}
	f := b.failedEntries(t)
	p, _ := f[0]["payload"].(map[string]any)
	if len(f) != 1 || p["id"] != id || fmt.Sprint(p["goresque_attempt"]) != "3" || f[0]["exception"] != "RuntimeException" {
		t.Errorf("failed = %v", f)
	}
	// php-resque counts every job performed in stat:processed and a failure in
	// stat:failed with its record: three performed, one failure.
	if pr, fl := b.processed(t), b.getInt(t, b.keys.Stat("failed")); pr != 3 || fl != 1 {
		t.Errorf("stat:processed = %d, stat:failed = %d; want 3 and 1", pr, fl)
	}
	if st, err := client.Status(bg, id, ""); err != nil || st.Status != StatusFailed || st.Attempt != 3 {
		t.Errorf("final status %+v, %v; want failed at attempt 3", st, err)
	}
}

// php-resque-scheduler moves a goresque retry like any delayed job. It rebuilds the
// payload from class, queue and args[0] (Resque::enqueue), so the job gets a new id and
// its attempt count restarts: the documented limit.
func TestRetryMovedByPHPScheduler(t *testing.T) {
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			e, php := newPHPEnv(t, d)
			mux := NewMux()
			var mu sync.Mutex
			var seen []string
			mux.HandleFunc(`App\Flaky`, func(ctx context.Context, job *Job) error {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, fmt.Sprintf("%d:%s:%s", job.Attempt(), job.ID, job.Arg()))
				if len(seen) == 1 {
					return fmt.Errorf("first try fails")
				}
				return nil
			})
			mux.SetRetry(`App\Flaky`, Retry{Attempts: 2})
			id, err := e.client.Enqueue(bg, "rq", `App\Flaky`, map[string]any{"n": 7}, EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b := &testBundle{pool: e.pool, ns: e.ns, keys: NewKeys(e.ns), conn: e.conn}
			cfg := b.config(t, mux, "rq")
			cfg.Dialect = d
			_, stop := b.start(t, cfg)
			b.waitFor(t, "retry scheduled", func() bool {
				c, _ := redis.Int(e.conn.Do("ZCARD", b.keys.DelayedSchedule()))
				return c == 1
			})
			ts, _ := redis.Int64s(e.conn.Do("ZRANGE", b.keys.DelayedSchedule(), 0, -1))
			for time.Now().Unix() < ts[0] {
				time.Sleep(50 * time.Millisecond)
			}
			php.run("scheduler-pass")
			b.waitFor(t, "second attempt", func() bool { return b.processed(t) == 2 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			re := regexp.MustCompile(`^1:([0-9a-f]{32}):\{"n":7\}$`)
			m0, m1 := re.FindStringSubmatch(seen[0]), re.FindStringSubmatch(seen[1])
			if len(seen) != 2 || m0 == nil || m1 == nil || m0[1] != id || m1[1] == id {
				t.Errorf("attempts %q: want the first with id %s, the second (attempt 1 again) with a new id", seen, id)
			}
			if n := b.getInt(t, b.keys.Stat("failed")); n != 0 {
				t.Errorf("stat:failed = %d", n)
			}
		})
	}
}

// The retry is written by the same script call that removes the in-flight record: before
// the call the job is in flight (a prune recovers it), after it the job is in the delayed
// queue, and there is no state in between. A replayed call (a dropped reply) schedules
// nothing twice, and a broken delayed key sends the job to `failed` instead of losing it.
func TestCycleScriptRetryIsAtomic(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:rq"
	a := testCycleArgs(k, id, "rq")
	a.claim, a.recordTail, a.token = true, `,"run_at":"D","payload":`, "t1"
	claim := func(p string) string {
		do(t, c, "RPUSH", k.Queue("rq"), p)
		if v := runCycle(t, c, a); v[1].(int64) != 0 {
			t.Fatalf("claim = %v", v)
		}
		return sha1hex(a.inflightRecord(0, []byte(p)))
	}
	retryOutcome := func(sha, item, ts string) *outcome {
		return &outcome{statusKey: "-", pidKey: "-", sha: sha, failure: `{"f":"` + ts + `"}`, splice: "0", delPID: "0",
			retryItem: item, retryAt: ts, delayedKey: k.Delayed(ts), tsKey: k.DelayedTimestamps(item)}
	}
	item := `{"class":"A","args":[null],"queue":"rq","goresque_attempt":2}`
	a.fin = retryOutcome(claim(`{"class":"A","args":[]}`), item, "100")
	a.claim = false
	if h, _ := redis.Int(do(t, c, "HLEN", k.InFlight()), nil); h != 1 {
		t.Fatal("the job is not in flight before the outcome step")
	}
	if v := runCycle(t, c, a); v[0].(int64) != 1 {
		t.Fatalf("finish = %v", v)
	}
	check := func(when string) {
		t.Helper()
		if h, _ := redis.Int(do(t, c, "HLEN", k.InFlight()), nil); h != 0 {
			t.Errorf("%s: still in flight", when)
		}
		if l, _ := redis.Strings(do(t, c, "LRANGE", k.Delayed("100"), 0, -1), nil); len(l) != 1 || l[0] != item {
			t.Errorf("%s: delayed:100 = %q", when, l)
		}
		if z, _ := redis.Strings(do(t, c, "ZRANGE", k.DelayedSchedule(), 0, -1, "WITHSCORES"), nil); fmt.Sprint(z) != "[100 100]" {
			t.Errorf("%s: schedule = %v", when, z)
		}
		if m, _ := redis.Strings(do(t, c, "SMEMBERS", k.DelayedTimestamps(item)), nil); fmt.Sprint(m) != "["+k.Delayed("100")+"]" {
			t.Errorf("%s: timestamps index = %v", when, m)
		}
		if n, _ := redis.Int(do(t, c, "LLEN", k.Failed()), nil); n != 0 {
			t.Errorf("%s: %d failure records", when, n)
		}
		if p, f := b.getInt(t, k.Stat("processed")), b.getInt(t, k.Stat("failed")); p != 1 || f != 0 {
			t.Errorf("%s: processed %d, failed %d", when, p, f)
		}
	}
	check("after the step")
	if v := runCycle(t, c, a); v[0].(int64) != 0 {
		t.Fatalf("replayed finish = %v", v)
	}
	check("after a replay")

	// delayed:<ts> of the wrong type: recorded as failed, not lost.
	a.claim = true
	a.fin = nil
	sha := claim(`{"class":"B","args":[]}`)
	do(t, c, "SET", k.Delayed("200"), "x")
	a.claim = false
	a.fin = retryOutcome(sha, `{"class":"B","args":[null],"queue":"rq","goresque_attempt":2}`, "200")
	v := runCycle(t, c, a)
	if v[0].(int64) != 1 || len(v[3].([]any)) != 1 {
		t.Fatalf("finish over a broken delayed key = %v", v)
	}
	if f, _ := redis.Strings(do(t, c, "LRANGE", k.Failed(), 0, -1), nil); fmt.Sprint(f) != `[{"f":"200"}]` {
		t.Errorf("failed = %v", f)
	}
	if h, _ := redis.Int(do(t, c, "HLEN", k.InFlight()), nil); h != 0 {
		t.Error("still in flight")
	}
}
