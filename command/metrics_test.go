package command

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// TestWorkMetricsAddr: `goresque work` with GORESQUE_METRICS_ADDR serves its /metrics while
// it works; with COUNT > 1 the setting is refused (exit 2) before anything starts.
func TestWorkMetricsAddr(t *testing.T) {
	srv := server(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	vars := map[string]string{
		"REDIS_BACKEND": srv.Socket, "PREFIX": redistest.Namespace(t), "QUEUE": "q", "INTERVAL": "0.1",
		"GORESQUE_PHP": "off", "GORESQUE_METRICS_ADDR": addr, "GORESQUE_CONCURRENCY": "3",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }

	var errb bytes.Buffer
	vars["COUNT"] = "2"
	if code := Run(context.Background(), []string{"goresque", "work"}, io.Discard, &errb, lookup, nil); code != exitUsage || !strings.Contains(errb.String(), "GORESQUE_METRICS_ADDR") {
		t.Fatalf("COUNT=2 with a metrics address: exit %d, %s", code, errb.String())
	}
	delete(vars, "COUNT")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"goresque", "work"}, io.Discard, io.Discard, lookup, testMux()) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "goresque_worker_slots 3") {
				t.Fatalf("/metrics of work:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /metrics on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("work exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("work did not stop")
	}
}

// TestWorkMetricsPHPPool: with the PHP bridge on, work's /metrics carries the warm pool's
// processes, RSS and restarts; GORESQUE_PHP_MAX_JOBS=2 recycles the process after two
// PHP jobs, which the restarts counter shows with reason="jobs".
func TestWorkMetricsPHPPool(t *testing.T) {
	needPHPForChaos(t)
	srv := server(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	app, _ := filepath.Abs(filepath.Join("..", "testdata", "phpapp", "bootstrap.php"))
	prefix := strings.TrimSuffix(redistest.Namespace(t), ":")
	vars := map[string]string{
		"REDIS_BACKEND": srv.Socket, "PREFIX": prefix, "QUEUE": "q", "INTERVAL": "0.1",
		"APP_INCLUDE": app, "GORESQUE_PHP": "pool", "GORESQUE_PHP_MAX_JOBS": "2", "GORESQUE_METRICS_ADDR": addr,
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	pool := srv.Pool()
	defer pool.Close()
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: prefix, Dialect: resque.DialectPHPResque136})
	for i := range 2 {
		if _, err := client.Enqueue(t.Context(), "q", "Php_Succeed", map[string]any{"name": strconv.Itoa(i)}, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"goresque", "work"}, io.Discard, io.Discard, lookup, testMux()) }()
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, `goresque_worker_php_restarts_total{reason="jobs"} 1`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restarts{reason=jobs} 1 in work's /metrics after 2 PHP jobs with MAX_JOBS=2:\n%s", body)
		}
	}
	for _, name := range []string{"goresque_worker_php_processes ", "goresque_worker_php_rss_bytes "} {
		if !strings.Contains(body, name) {
			t.Errorf("no %s in /metrics", name)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("work exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("work did not stop")
	}
}
