package command

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
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
