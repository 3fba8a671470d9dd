package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
)

func scrape(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(e.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the scrape is not Prometheus text format: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include want; ok false if none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsMatchRedis scrapes /metrics, parses it with Prometheus' own text parser and
// compares every goresque_ value with what Redis holds (LLEN for queue lengths).
func TestMetricsMatchRedis(t *testing.T) {
	var clock atomic.Int64 // the dashboard's clock, set once the data is in
	e := newEnv(t, func(o *Options) { o.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	ctx := context.Background()
	e.php("enqueue", "php", "PHP_Job", `{"a":1}`)
	for i := range 3 {
		if _, err := e.client.Enqueue(ctx, "go", "Go_Job", map[string]int{"i": i}, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A Ruby-pushed job carries no queue_time: its queue's age is unknown, not 0.
	if _, err := e.conn.Do("SADD", e.keys.Queues(), "ruby"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Do("RPUSH", e.keys.Queue("ruby"), `{"class":"RubyJob","args":[1]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Do("SADD", e.keys.Queues(), "empty"); err != nil {
		t.Fatal(err)
	}
	e.php("fail", "bad", "PHP_Bad", `[]`, "nope")
	e.php("working", "slow", "PHP_Slow", `[]`)
	e.php("delay", "600", "later", "PHP_Later", `[]`)
	e.php("delay", "700", "later", "PHP_Later", `{"b":2}`)
	if _, err := e.conn.Do("SET", e.keys.Stat("processed"), 41); err != nil {
		t.Fatal(err)
	}
	// A worker whose Ruby-style heartbeat stopped 10 minutes ago is stale.
	stale := "deadhost:1:q"
	if _, err := e.conn.Do("SADD", e.keys.Workers(), stale); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Do("HSET", e.keys.Heartbeats(), stale, time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}

	now := time.Now().Add(3 * time.Second)
	clock.Store(now.UnixNano())
	fams := scrape(t, e)
	for _, q := range []string{"php", "go", "ruby", "empty", "bad", "slow"} {
		n, err := redis.Int(e.conn.Do("LLEN", e.keys.Queue(q)))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := value(fams, "goresque_queue_length", map[string]string{"queue": q})
		if !ok || got != float64(n) {
			t.Errorf("goresque_queue_length{queue=%q} = %v (present %v), LLEN = %d", q, got, ok, n)
		}
	}
	head, _ := redis.Bytes(e.conn.Do("LINDEX", e.keys.Queue("go"), 0))
	j, err := resque.NewJob("go", head)
	if err != nil {
		t.Fatal(err)
	}
	wantAge := time.Unix(0, clock.Load()).Sub(j.QueueTime).Seconds()
	if got, ok := value(fams, "goresque_queue_oldest_job_age_seconds", map[string]string{"queue": "go"}); !ok || got != wantAge {
		t.Errorf("oldest age of go = %v (%v), want %v", got, ok, wantAge)
	}
	if got, ok := value(fams, "goresque_queue_oldest_job_age_seconds", map[string]string{"queue": "php"}); !ok || got < 0 || got > 60 {
		t.Errorf("oldest age of php = %v (%v)", got, ok)
	}
	for _, q := range []string{"ruby", "empty"} {
		if got, ok := value(fams, "goresque_queue_oldest_job_age_seconds", map[string]string{"queue": q}); ok {
			t.Errorf("oldest age of %s = %v, want absent", q, got)
		}
	}
	failedLen, _ := redis.Int(e.conn.Do("LLEN", e.keys.Failed()))
	failedStat, _ := redis.Int(e.conn.Do("GET", e.keys.Stat("failed")))
	delayed, err := e.client.DelayedCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"goresque_failed_jobs":          float64(failedLen),
		"goresque_jobs_failed_total":    float64(failedStat),
		"goresque_jobs_processed_total": 41,
		"goresque_delayed_jobs":         float64(delayed),
		"goresque_redis_up":             1,
		"goresque_paused":               0,
	} {
		if got, ok := value(fams, name, nil); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if failedLen != 1 || delayed != 2 {
		t.Errorf("seeded failed %d, delayed %d; want 1 and 2", failedLen, delayed)
	}
	for state, want := range map[string]float64{"busy": 1, "idle": 0, "paused": 0, "stale": 1} {
		if got, _ := value(fams, "goresque_workers", map[string]string{"state": state}); got != want {
			t.Errorf("goresque_workers{state=%q} = %v, want %v", state, got, want)
		}
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	if got := fams["goresque_jobs_processed_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("goresque_jobs_processed_total is a %v", got)
	}

	// Redis gone: the scrape still answers, with goresque_redis_up 0.
	dead := resque.NewClient(&redis.Pool{Dial: func() (redis.Conn, error) { return redis.Dial("unix", "/nonexistent/sock") }}, resque.ClientConfig{Namespace: e.ns, Dialect: resque.DialectPHPResque1})
	srv, err := New(Options{Client: dead})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(srv)
	defer e.http.Close()
	if got, ok := value(scrape(t, e), "goresque_redis_up", nil); !ok || got != 0 {
		t.Errorf("goresque_redis_up without Redis = %v (%v), want 0", got, ok)
	}
}

// TestGrafanaDashboardNamesExistingMetrics: every goresque_ metric the sample Grafana
// dashboard (scripts/grafana-dashboard.json) queries is one /metrics exports.
func TestGrafanaDashboardNamesExistingMetrics(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.client.Enqueue(ctx, "q", "Job", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	// A job performed, so that the class statistics (goresque_class_*) have a series; the
	// queue keeps one job waiting for the queue panels.
	if _, err := e.client.Enqueue(ctx, "done", "Job", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	mux := resque.NewMux()
	mux.HandleFunc("Job", func(ctx context.Context, j *resque.Job) error { return nil })
	w, err := resque.NewWorker(e.pool, resque.Config{
		Namespace: e.ns, Queues: []string{"done"}, Interval: 20 * time.Millisecond, Handler: mux,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := redis.Int(e.conn.Do("GET", e.keys.Stat("processed"))); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job was not performed")
		}
	}
	cancel() // the stop writes the class statistics
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	fams := scrape(t, e)
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, name := range regexp.MustCompile(`goresque_[a-z_]+`).FindAllString(tg.Expr, -1) {
				n++
				if fams[name] == nil {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard queries no goresque_ metric")
	}
}
