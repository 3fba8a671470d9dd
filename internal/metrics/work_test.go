package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

var (
	testServer    *redistest.Server
	testServerErr error
)

func TestMain(m *testing.M) {
	testServer, testServerErr = redistest.Start(redistest.Options{})
	code := m.Run()
	if testServer != nil {
		testServer.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

func waitCounter(t *testing.T, m *Work, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == name && ok(f.GetMetric()[0].GetCounter().GetValue()) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the expected value", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkMetricsFromARealWorker runs a goresque worker that performs good and failing
// jobs, then lives through a Redis outage, and reads its /metrics with Prometheus' text
// parser.
func TestWorkMetricsFromARealWorker(t *testing.T) {
	if testServer == nil {
		redistest.Unavailable(t, testServerErr)
	}
	var refuse atomic.Bool // an outage: new connections fail
	pool := &redis.Pool{MaxIdle: 8, DialContext: func(ctx context.Context) (redis.Conn, error) {
		if refuse.Load() {
			return nil, errors.New("test: redis unreachable")
		}
		return redis.DialContext(ctx, "unix", testServer.Socket)
	}}
	defer pool.Close()
	ns := redistest.Namespace(t)
	m := NewWork(2)
	client := resque.NewClient(testServer.Pool(), resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque136})
	for i := range 3 {
		if _, err := client.Enqueue(context.Background(), "mail", "SendMail", map[string]int{"i": i}, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(context.Background(), "pdf", "Render", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // no Go handler: the fallback, the PHP bridge's place, runs it
		if _, err := client.Enqueue(context.Background(), "mail", "Legacy", nil, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // a pickup latency above 0
	mux := resque.NewMux()
	mux.HandleFunc("SendMail", func(ctx context.Context, j *resque.Job) error { return nil })
	mux.HandleFunc("Render", func(ctx context.Context, j *resque.Job) error { return errors.New("no fonts") })
	mux.Fallback(resque.HandlerFunc(func(ctx context.Context, j *resque.Job) error { return nil }))
	w, err := resque.NewWorker(pool, resque.Config{
		Namespace: ns, Queues: []string{"mail", "pdf"}, Interval: 20 * time.Millisecond, Concurrency: 2,
		Handler: mux, Observer: m, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	conn := testServer.Pool().Get()
	defer conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		q, _ := redis.Int(conn.Do("LLEN", ns+"queue:mail"))
		p, _ := redis.Int(conn.Do("LLEN", ns+"queue:pdf"))
		f, _ := redis.Int(conn.Do("LLEN", ns+"failed"))
		// Every job finished (not only taken): a job still running when the outage begins
		// would meet it on its own connection after the others reconnected.
		finished, _ := redis.Int(conn.Do("GET", ns+"stat:processed"))
		if q == 0 && p == 0 && f == 1 && finished == 6 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the worker stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not finish the jobs")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// An outage: the worker's connections are killed and new ones fail for a while.
	refuse.Store(true)
	if _, err := conn.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, m, "goresque_worker_redis_errors_total", func(v float64) bool { return v >= 1 })
	refuse.Store(false)
	waitCounter(t, m, "goresque_worker_redis_reconnects_total", func(v float64) bool { return v == 1 })
	cancel()
	<-done

	h := httptest.NewServer(m.Handler())
	defer h.Close()
	resp, err := h.Client().Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if s := sample(fams, "goresque_worker_jobs_processed_total", map[string]string{"queue": "mail", "class": "SendMail", "implementation": "go"}); s.GetCounter().GetValue() != 3 {
		t.Errorf("processed mail/SendMail/go = %v, want 3", s)
	}
	if s := sample(fams, "goresque_worker_jobs_processed_total", map[string]string{"queue": "mail", "class": "Legacy", "implementation": "php"}); s.GetCounter().GetValue() != 2 {
		t.Errorf("processed mail/Legacy/php = %v, want 2", s)
	}
	for _, name := range []string{"goresque_worker_jobs_processed_total", "goresque_worker_jobs_failed_total", "goresque_worker_job_duration_seconds"} {
		for _, s := range fams[name].GetMetric() {
			impl := ""
			for _, l := range s.GetLabel() {
				if l.GetName() == "implementation" {
					impl = l.GetValue()
				}
			}
			if impl != "go" && impl != "php" {
				t.Errorf("%s %v: implementation %q, want go or php", name, s.GetLabel(), impl)
			}
		}
	}
	if s := sample(fams, "goresque_worker_jobs_failed_total", map[string]string{"queue": "pdf", "class": "Render", "implementation": "go"}); s.GetCounter().GetValue() != 1 {
		t.Errorf("failed pdf/Render = %v, want 1", s)
	}
	if s := sample(fams, "goresque_worker_jobs_processed_total", map[string]string{"queue": "pdf"}); s != nil {
		t.Errorf("a failed job counted as processed: %v", s)
	}
	if s := sample(fams, "goresque_worker_job_duration_seconds", map[string]string{"queue": "mail", "class": "SendMail", "implementation": "go"}); s.GetHistogram().GetSampleCount() != 3 {
		t.Errorf("duration samples = %v, want 3", s)
	}
	lat := sample(fams, "goresque_worker_pickup_latency_seconds", map[string]string{"queue": "mail"}).GetHistogram()
	if lat.GetSampleCount() != 5 || lat.GetSampleSum() < 5*0.02 {
		t.Errorf("pickup latency of mail: %d samples, sum %v; want 5 of at least 20ms", lat.GetSampleCount(), lat.GetSampleSum())
	}
	for name, want := range map[string]float64{"goresque_worker_slots_busy": 0, "goresque_worker_slots": 2, "goresque_worker_redis_reconnects_total": 1} {
		s := sample(fams, name, nil)
		got := s.GetGauge().GetValue() + s.GetCounter().GetValue()
		if s == nil || got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if s := sample(fams, "goresque_worker_redis_errors_total", nil); s.GetCounter().GetValue() < 1 {
		t.Errorf("redis errors = %v, want at least the refused dials", s)
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
}

// TestWorkMetricsClassLabelBounded: past MaxClassLabels classes, jobs count as
// class="other", so a fleet with thousands of classes cannot blow up the series.
func TestWorkMetricsClassLabelBounded(t *testing.T) {
	m := NewWork(1)
	for i := range MaxClassLabels + 50 {
		job, err := resque.NewJob("q", []byte(fmt.Sprintf(`{"class":"C%d","args":[]}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		m.JobFinished(job, resque.StatusComplete, time.Millisecond)
		m.JobFinished(job, resque.StatusComplete, time.Millisecond) // an admitted class stays
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "goresque_worker_jobs_processed_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "class" {
					classes[l.GetValue()] += s.GetCounter().GetValue()
				}
			}
		}
	}
	if len(classes) != MaxClassLabels+1 || classes["other"] != 100 || classes["C0"] != 2 || classes["C99"] != 2 {
		t.Errorf("%d class labels (other %v, C0 %v, C99 %v), want %d + other with 100",
			len(classes), classes["other"], classes["C0"], classes["C99"], MaxClassLabels)
	}
}
