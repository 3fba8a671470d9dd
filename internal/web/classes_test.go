package web

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// TestClassesPage: a goresque worker with a Go handler for Go_Mail and a fallback (the PHP
// bridge's place) performs jobs, real php-resque pushes a job and writes a failure; the
// Classes page lists every class with its per-implementation numbers, the unported ones
// first in port-next order.
func TestClassesPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.php("enqueue", "waiting", "PHP_Waiting", `{"n":1}`)
	e.php("fail", "reports", "PHP_Report", `{"day":"monday"}`, "disk full")
	for range 3 {
		if _, err := e.client.Enqueue(ctx, "work", "Go_Mail", nil, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := e.client.Enqueue(ctx, "work", "PHP_Legacy", nil, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mux := resque.NewMux()
	mux.HandleFunc("Go_Mail", func(ctx context.Context, j *resque.Job) error { return nil })
	mux.Fallback(resque.HandlerFunc(func(ctx context.Context, j *resque.Job) error {
		time.Sleep(time.Millisecond)
		return errors.New("legacy failed")
	}))
	w, err := resque.NewWorker(e.pool, resque.Config{
		Namespace: e.ns, Queues: []string{"work"}, Interval: 50 * time.Millisecond, Handler: mux,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Hostname: "gohost",
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		q, _ := redis.Int(e.conn.Do("LLEN", e.keys.Queue("work")))
		f, _ := redis.Int(e.conn.Do("LLEN", e.keys.Failed()))
		busy, _ := redis.Int(e.conn.Do("EXISTS", e.keys.Worker(w.IDs()[0])))
		if q == 0 && f == 3 && busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("5 jobs not processed")
		}
	}
	if !regexp.MustCompile(`<b>Go_Mail</b></td>\s*<td><span class="tag ok">yes</span>`).MatchString(e.mustGet("/classes")) {
		t.Error("while its worker runs, Go_Mail is not shown as ported")
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	page := e.mustGet("/classes")
	if !strings.Contains(page, `<a href="/classes" class="on">Classes</a>`) {
		t.Error("Classes is not in the navigation")
	}
	var rows []string
	for _, m := range regexp.MustCompile(`(?s)<tr>\s*<td class="num">(.*?)</tr>`).FindAllStringSubmatch(page, -1) {
		rows = append(rows, strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[0], " ")), " "))
	}
	want := []string{
		// next class ported queued running in-failed | Go jobs failed time p50 p95 | PHP ...
		`^1 PHP_Legacy no 0 0 2 – – – – – 2 2 \(100\.0%\) \S+ \S+ \S+$`,
		`^2 PHP_Report no 0 0 1 – – – – – – – – – –$`,
		`^3 PHP_Waiting no 1 0 0 – – – – – – – – – –$`,
		`^4 Go_Mail no 0 0 0 3 0 \(0\.0%\) \S+ \S+ \S+ – – – – –$`,
	}
	if len(rows) != len(want) {
		t.Fatalf("rows:\n%s", strings.Join(rows, "\n"))
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(rows[i]) {
			t.Errorf("row %d = %q, want %s", i+1, rows[i], re)
		}
	}

	// /metrics carries the same statistics with class and implementation labels.
	fams := scrape(t, e)
	for _, m := range []struct {
		name, class, impl string
		want              float64
	}{
		{"goresque_class_jobs_total", "Go_Mail", "go", 3},
		{"goresque_class_jobs_failed_total", "Go_Mail", "go", 0},
		{"goresque_class_jobs_total", "PHP_Legacy", "php", 2},
		{"goresque_class_jobs_failed_total", "PHP_Legacy", "php", 2},
	} {
		if got, ok := value(fams, m.name, map[string]string{"class": m.class, "implementation": m.impl}); !ok || got != m.want {
			t.Errorf("%s{class=%q,implementation=%q} = %v (present %v), want %v", m.name, m.class, m.impl, got, ok, m.want)
		}
	}
	if got, ok := value(fams, "goresque_class_job_seconds_total", map[string]string{"class": "PHP_Legacy", "implementation": "php"}); !ok || got < 0.002 {
		t.Errorf("seconds of PHP_Legacy = %v (%v), want at least 2 ms", got, ok)
	}
}

// TestClassMetricsBounded: with more classes in the statistics than maxClassSeries, /metrics
// has the classes with the most jobs only.
func TestClassMetricsBounded(t *testing.T) {
	e := newEnv(t)
	const n = maxClassSeries + 50
	for i := range n {
		class := fmt.Sprintf("c%03d", i)
		// The hash as workers write it (resque.Keys.Class): class i has i+1 php jobs.
		if _, err := e.conn.Do("HSET", e.keys.Class(class), "name", class, "php:jobs", i+1, "php:failed", 0, "php:us", 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := e.conn.Do("ZADD", e.keys.Classes(), 1_800_000_000+i, class); err != nil {
			t.Fatal(err)
		}
	}
	fams := scrape(t, e)
	series := fams["goresque_class_jobs_total"].GetMetric()
	if len(series) != maxClassSeries {
		t.Fatalf("%d series of goresque_class_jobs_total, want %d", len(series), maxClassSeries)
	}
	if _, ok := value(fams, "goresque_class_jobs_total", map[string]string{"class": fmt.Sprintf("c%03d", n-1)}); !ok {
		t.Error("the class with most jobs is missing")
	}
	if _, ok := value(fams, "goresque_class_jobs_total", map[string]string{"class": fmt.Sprintf("c%03d", n-maxClassSeries-1)}); ok {
		t.Error("a class outside the top is exported")
	}
}
