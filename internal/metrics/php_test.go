package metrics

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/goresque/goresque/compat"
	"github.com/goresque/goresque/resque"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
)

func scrape(t *testing.T, m *Work) map[string]*dto.MetricFamily {
	t.Helper()
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
	return fams
}

// The PHP pool metrics follow real php processes (testdata/phpapp): processes and RSS
// while a warm process lives, and the jobs restart counter when MaxJobs recycles it.
func TestPHPPoolMetrics(t *testing.T) {
	if _, err := exec.LookPath("php"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("php not found under CI=true: %v", err)
		}
		t.Skipf("php not found: %v", err)
	}
	app, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "phpapp", "bootstrap.php"))
	php, err := compat.New(compat.Config{AppInclude: app, MaxJobs: 3, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer php.Close()
	m := NewWork(1)
	m.WatchPHP(php)

	value := func(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
		t.Helper()
		s := sample(fams, name, labels)
		if s == nil {
			t.Fatalf("no %s%v in the scrape", name, labels)
		}
		if s.GetCounter() != nil {
			return s.GetCounter().GetValue()
		}
		return s.GetGauge().GetValue()
	}
	jobs := map[string]string{"reason": compat.RestartJobs}
	fams := scrape(t, m)
	if n := value(fams, "goresque_worker_php_processes", nil); n != 0 {
		t.Fatalf("processes before any PHP job = %v, want 0 (the pool is lazy)", n)
	}
	if n := value(fams, "goresque_worker_php_restarts_total", jobs); n != 0 {
		t.Fatalf("restarts{reason=jobs} before any job = %v", n)
	}
	run := func(i int) {
		t.Helper()
		payload := fmt.Sprintf(`{"class":"Php_Succeed","args":[{"name":"m%d"}],"id":"%s"}`, i, resque.NewJobID())
		j, err := resque.NewJob("default", []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := php.Perform(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	run(1)
	run(2)
	fams = scrape(t, m)
	if n := value(fams, "goresque_worker_php_processes", nil); n < 1 {
		t.Errorf("processes after 2 PHP jobs = %v, want >= 1", n)
	}
	rss := value(fams, "goresque_worker_php_rss_bytes", nil)
	if _, err := os.Stat("/proc/self/statm"); err == nil && rss <= 0 {
		t.Errorf("rss_bytes = %v with a warm php process, want > 0", rss)
	}
	t.Logf("one warm php process: %.1f MB RSS", rss/(1<<20))
	run(3) // MaxJobs: recycled
	fams = scrape(t, m)
	if n := value(fams, "goresque_worker_php_restarts_total", jobs); n != 1 {
		t.Errorf("restarts{reason=jobs} after MaxJobs = %v, want 1", n)
	}
	for _, r := range []string{compat.RestartMemory, compat.RestartTTL, compat.RestartCrash, compat.RestartIdle} {
		if n := value(fams, "goresque_worker_php_restarts_total", map[string]string{"reason": r}); n != 0 {
			t.Errorf("restarts{reason=%s} = %v, want 0", r, n)
		}
	}
}
