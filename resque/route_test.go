package resque

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

func TestParseRoute(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"go": 100, "php": 0, "go:25%": 25, " GO:5% ": 5, "go:0%": 0, "go:100": 100, "go: 30 %": 30} {
		if got, err := ParseRoute(in); err != nil || got != want {
			t.Errorf("ParseRoute(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "js", "go:", "go:101%", "go:-1%", "go:x%", "php:10%", "go:2.5%", "25%"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("ParseRoute(%q) accepted", bad)
		}
	}
	for share, want := range map[int]string{0: "php", 100: "go", 25: "go:25%"} {
		if got := FormatRoute(share); got != want {
			t.Errorf("FormatRoute(%d) = %q, want %q", share, got, want)
		}
		if back, _ := ParseRoute(FormatRoute(share)); back != share {
			t.Errorf("FormatRoute(%d) does not parse back: %d", share, back)
		}
	}
}

func TestParseRoutes(t *testing.T) {
	t.Parallel()
	got, err := ParseRoutes(` App\Jobs\SendMail=go:10% ; \Other=php;Full=go;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[`App\Jobs\SendMail`] != 10 || got["Other"] != 0 || got["Full"] != 100 {
		t.Errorf("ParseRoutes = %v", got)
	}
	for _, bad := range []string{"A", "A=", "=go", "A=go:200%", "A=rust", `A=go;\a=php`} {
		if _, err := ParseRoutes(bad); err == nil {
			t.Errorf("ParseRoutes(%q) accepted", bad)
		}
	}
}

// shareOf is stable per id (a retry, which keeps its id, stays on its side) and spreads
// ids evenly enough for a 30% rule to send about 30% of the jobs.
func TestShareOfIsStablePerID(t *testing.T) {
	t.Parallel()
	below := 0
	for i := 0; i < 10000; i++ {
		id := NewJobID()
		s := shareOf(id)
		if s < 0 || s > 99 || shareOf(id) != s {
			t.Fatalf("shareOf(%s) = %d, then %d", id, s, shareOf(id))
		}
		if s < 30 {
			below++
		}
	}
	if below < 2800 || below > 3200 {
		t.Errorf("%d of 10000 ids below 30", below)
	}
}

// Mux.Perform follows the worker's decision; used alone (no decision), it is as before.
func TestMuxPerformFollowsTheDecision(t *testing.T) {
	t.Parallel()
	var ran string
	mux := NewMux()
	mux.HandleFunc("A", func(context.Context, *Job) error { ran = ImplGo; return nil })
	mux.Fallback(HandlerFunc(func(context.Context, *Job) error { ran = ImplPHP; return nil }))
	for impl, want := range map[string]string{"": ImplGo, ImplGo: ImplGo, ImplPHP: ImplPHP} {
		job, err := NewJob("q", []byte(`{"class":"a","args":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		job.impl = impl
		if err := mux.Perform(context.Background(), job); err != nil || ran != want {
			t.Errorf("impl %q: ran %q (%v), want %q", impl, ran, err, want)
		}
	}
}

// sideRecorder is a Mux whose class Routed has a Go handler and a fallback standing in for
// the PHP bridge; each records which jobs it ran, and the observer what the worker says ran.
type sideRecorder struct {
	mu       sync.Mutex
	ran      map[string]string // job id → side that ran it
	observed map[string]string // job id → Job.Implementation() at JobFinished
	order    []string          // sides in the order the jobs ran
	onGo     func(job *Job)
}

func newSideRecorder() (*sideRecorder, *Mux) {
	r := &sideRecorder{ran: map[string]string{}, observed: map[string]string{}}
	side := func(impl string) HandlerFunc {
		return func(_ context.Context, job *Job) error {
			r.mu.Lock()
			r.ran[job.ID] = impl
			r.order = append(r.order, impl)
			f := r.onGo
			r.mu.Unlock()
			if impl == ImplGo && f != nil {
				f(job)
			}
			if job.Int("n")%10 == 0 {
				return errors.New("fails on purpose")
			}
			return nil
		}
	}
	mux := NewMux()
	mux.Handle(`App\Routed`, side(ImplGo))
	mux.Fallback(side(ImplPHP))
	return r, mux
}

func (r *sideRecorder) JobStarted(*Job, time.Time) {}
func (r *sideRecorder) JobFinished(job *Job, _ Status, _ time.Duration) {
	r.mu.Lock()
	r.observed[job.ID] = job.Implementation()
	r.mu.Unlock()
}
func (r *sideRecorder) RedisError(error)  {}
func (r *sideRecorder) RedisReconnected() {}

// A class with a Go handler and a fallback, routed go:30% in Redis: about 30% of its jobs
// run in Go, and the side recorded for each job (Job.Implementation, the status packet's
// goresque_impl, the failure record's goresque_impl) is the side that ran it.
func TestRouteSplitsAndRecordsTheSide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec, mux := newSideRecorder()
	mux.SetRoute(`App\Routed`, 100) // the deployed default; the Redis override wins
	ctx := context.Background()
	if err := b.client.SetRoute(ctx, `\app\routed`, 30); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	ids := make([]string, n)
	for i := range ids {
		id, err := b.client.Enqueue(ctx, "q", `App\Routed`, map[string]int{"n": i + 1}, EnqueueOptions{Track: true})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	cfg := b.config(t, mux, "q")
	cfg.Concurrency = 4
	cfg.Observer = rec
	cfg.Logger = zerolog.Nop()
	_, stop := b.start(t, cfg)
	b.waitFor(t, "every job", func() bool { return b.processed(t) == n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	goCount := 0
	for _, id := range ids {
		side := rec.ran[id]
		if side == ImplGo {
			goCount++
		}
		if rec.observed[id] != side {
			t.Fatalf("job %s ran %q, Job.Implementation() says %q", id, side, rec.observed[id])
		}
		raw, err := redis.Bytes(b.conn.Do("GET", b.keys.JobStatus(id, "")))
		if err != nil {
			t.Fatal(err)
		}
		var st JobStatus
		if err := json.Unmarshal(raw, &st); err != nil || st.Implementation != side {
			t.Fatalf("job %s ran %q; status packet %s (%v)", id, side, raw, err)
		}
	}
	if goCount < n*25/100 || goCount > n*35/100 {
		t.Errorf("go:30%%: %d of %d jobs ran in Go", goCount, n)
	}
	failed := b.failedEntries(t)
	if len(failed) != n/10 {
		t.Fatalf("%d failure records, want %d", len(failed), n/10)
	}
	for _, f := range failed {
		id := f["payload"].(map[string]any)["id"].(string)
		if f[implKey] != rec.ran[id] {
			t.Errorf("failure of job %s ran %q, record says %v", id, rec.ran[id], f[implKey])
		}
	}
	t.Logf("go:30%%: %d of %d jobs ran in Go", goCount, n)
}

// Rollback: from go (100%) to php with Client.SetRoute(0), made while a job runs, applies
// to the very next job claimed (one slot: in the same round trip that finishes the job).
// ResetRoute goes back to the deployed default.
func TestRouteRollbackAppliesToTheNextJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec, mux := newSideRecorder()
	ctx := context.Background()
	if err := b.client.SetRoute(ctx, `App\Routed`, 100); err != nil {
		t.Fatal(err)
	}
	rec.onGo = func(job *Job) {
		if job.Int("n") == 5 {
			if err := b.client.SetRoute(ctx, `App\Routed`, 0); err != nil {
				t.Error(err)
			}
		}
	}
	for i := 1; i <= 20; i++ {
		if _, err := b.client.Enqueue(ctx, "q", `App\Routed`, map[string]int{"n": i}, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, stop := b.start(t, b.config(t, mux, "q"))
	b.waitFor(t, "20 jobs", func() bool { return b.processed(t) == 20 })
	rec.mu.Lock()
	got := strings.Join(rec.order, ",")
	rec.mu.Unlock()
	if want := strings.Repeat("go,", 5) + strings.TrimSuffix(strings.Repeat("php,", 15), ","); got != want {
		t.Errorf("sides in order:\n got %s\nwant %s", got, want)
	}

	// --reset: back to the default, here none (the Go handler); then a Go default.
	if err := b.client.ResetRoute(ctx, `app\routed`); err != nil {
		t.Fatal(err)
	}
	if routes, err := b.client.Routes(ctx); err != nil || len(routes) != 0 {
		t.Fatalf("after reset: routes %v, %v", routes, err)
	}
	if _, err := b.client.Enqueue(ctx, "q", `App\Routed`, map[string]int{"n": 21}, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "job 21", func() bool { return b.processed(t) == 21 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if last := rec.order[len(rec.order)-1]; last != ImplGo {
		t.Errorf("after reset the job ran %q, want go (no rule: the Go handler)", last)
	}
}

// Client.SetRoute keeps one field per class as the Mux compares names.
func TestSetRouteOneFieldPerClass(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i, class := range []string{`App\X`, `\app\x`, `APP\X`} {
		if err := b.client.SetRoute(ctx, class, 10*(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	routes, err := b.client.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[`APP\X`] != 30 {
		t.Fatalf("routes %v, %v", routes, err)
	}
	if rev, _ := redis.Int(b.conn.Do("GET", b.keys.RoutesRev())); rev != 3 {
		t.Errorf("revision %d after 3 changes", rev)
	}
}

// A routing hash Redis cannot read (a key of the wrong type) keeps the last rules, and the
// worker goes on; a class without a rule has no goresque_impl in its records.
func TestRouteLoadErrorKeepsTheLastRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec, mux := newSideRecorder()
	ctx := context.Background()
	if err := b.client.SetRoute(ctx, `App\Routed`, 0); err != nil {
		t.Fatal(err)
	}
	_, stop := b.start(t, b.config(t, mux, "q"))
	enqueue := func(n int) {
		if _, err := b.client.Enqueue(ctx, "q", `App\Routed`, map[string]int{"n": n}, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		b.waitFor(t, "job "+strconv.Itoa(n), func() bool { return b.processed(t) == n })
	}
	enqueue(1)
	b.conn.Do("DEL", b.keys.Routes())
	b.conn.Do("SET", b.keys.Routes(), "not a hash")
	b.conn.Do("INCR", b.keys.RoutesRev())
	enqueue(2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.order, ","); got != "php,php" {
		t.Errorf("sides %s, want php,php (the last rules kept)", got)
	}
}

// A rule naming a class that cannot be split is logged once per class, however often the
// rules are reloaded: one without a Go handler (its jobs all run as PHP), one on a worker
// without the PHP bridge (its jobs all run in Go). Its jobs run on the side that exists.
func TestRouteWarnsOnceForAClassThatCannotBeSplit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ran []string
	mux := NewMux()
	mux.HandleFunc("GoOnly", func(context.Context, *Job) error { ran = append(ran, "GoOnly"); return nil })
	mux.SetRoute("GoOnly", 0) // no fallback: the rule cannot send anything to PHP
	if err := b.client.SetRoute(ctx, "Missing", 50); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cfg := b.config(t, mux, "q")
	cfg.Logger = zerolog.New(&logs)
	_, stop := b.start(t, cfg)
	for i := 1; i <= 3; i++ {
		if err := b.client.SetRoute(ctx, "Other", i*10); err != nil { // a new revision: a reload
			t.Fatal(err)
		}
		if _, err := b.client.Enqueue(ctx, "q", "GoOnly", nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		b.waitFor(t, "job "+strconv.Itoa(i), func() bool { return b.processed(t) == i })
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 3 {
		t.Errorf("GoOnly ran %d times in Go, want 3", len(ran))
	}
	out := logs.String()
	for class, msg := range map[string]string{"GoOnly": "the PHP bridge is off", "Missing": "without a Go handler", "Other": "without a Go handler"} {
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"class":"`+class+`"`) && strings.Contains(line, msg) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d warnings %q, want 1:\n%s", class, n, msg, out)
		}
	}
	if loads := strings.Count(out, "routing rules loaded"); loads < 3 {
		t.Errorf("rules loaded %d times, want one per new revision (3 at least)", loads)
	}
}
