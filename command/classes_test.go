package command

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// TestClassesCommand runs `goresque work` with a Go handler (Test_Ok) and the real PHP
// bridge (Php_Succeed, Php_Throw), then `goresque classes`: the statistics per
// implementation must be what ran, a class only waiting in a queue is listed, the Go class
// counts as ported only while a worker with its handler is registered, and the port-next
// order puts the most PHP time first.
func TestClassesCommand(t *testing.T) {
	needPHPForChaos(t)
	srv := server(t)
	app, _ := filepath.Abs(filepath.Join("..", "testdata", "phpapp", "bootstrap.php"))
	prefix := strings.TrimSuffix(redistest.Namespace(t), ":")
	vars := map[string]string{
		"REDIS_BACKEND": srv.Socket, "PREFIX": prefix, "QUEUE": "q", "INTERVAL": "0.1",
		"APP_INCLUDE": app, "GORESQUE_PHP": "pool",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	pool := srv.Pool()
	defer pool.Close()
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: prefix, Dialect: resque.DialectPHPResque136})
	enqueue := func(queue, class string, n int, args map[string]any) {
		for range n {
			if _, err := client.Enqueue(t.Context(), queue, class, args, resque.EnqueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue("q", "Test_Ok", 5, nil)
	enqueue("q", "Php_Succeed", 4, map[string]any{"name": "x"})
	enqueue("q", "Php_Throw", 3, map[string]any{"message": "no"})
	enqueue("other", "Waiting_Class", 2, nil)

	classes := func() resque.ClassesReport {
		t.Helper()
		var out, errb bytes.Buffer
		if code := Run(context.Background(), []string{"goresque", "classes", "--json"}, &out, &errb, lookup, nil); code != exitOK {
			t.Fatalf("classes --json: exit %d: %s", code, errb.String())
		}
		// The shape scripts read, spelled out: not only what ClassesReport decodes.
		for _, key := range []string{`"classes": [`, `"queue_sample": 1000`, `"failed_sample": 1000`, `"sampled": false`} {
			if !strings.Contains(out.String(), key) {
				t.Errorf("classes --json lacks %s:\n%s", key, out.String())
			}
		}
		var rep resque.ClassesReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("classes --json: %v\n%s", err, out.String())
		}
		return rep
	}
	byName := func(rep resque.ClassesReport) map[string]resque.ClassInfo {
		m := map[string]resque.ClassInfo{}
		for _, ci := range rep.Classes {
			m[ci.Class] = ci
		}
		return m
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"goresque", "work"}, io.Discard, io.Discard, lookup, testMux()) }()
	conn := pool.Get()
	defer conn.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := redis.Int(conn.Do("GET", prefix+":stat:processed")); n == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("12 jobs not processed within 30s")
		}
	}
	if m := byName(classes()); !m["Test_Ok"].Ported || m["Php_Succeed"].Ported {
		t.Errorf("while work runs: Test_Ok ported %v, Php_Succeed ported %v", m["Test_Ok"].Ported, m["Php_Succeed"].Ported)
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

	rep := classes()
	m := byName(rep)
	for _, tc := range []struct {
		class, impl  string
		jobs, failed int64
	}{
		{"Test_Ok", resque.ImplGo, 5, 0},
		{"Php_Succeed", resque.ImplPHP, 4, 0},
		{"Php_Throw", resque.ImplPHP, 3, 3},
	} {
		ci := m[tc.class]
		st := ci.Impl(tc.impl)
		if st.Jobs != tc.jobs || st.Failed != tc.failed || len(ci.Implementations) != 1 {
			t.Errorf("%s: %+v, want %d %s jobs, %d failed, one implementation", tc.class, ci.Implementations, tc.jobs, tc.impl, tc.failed)
		}
		if ci.Ported {
			t.Errorf("%s ported after the worker stopped", tc.class)
		}
	}
	if w := m["Waiting_Class"]; w.Queued != 2 || len(w.Implementations) != 0 {
		t.Errorf("Waiting_Class: %+v", w)
	}
	var raw struct {
		Classes []map[string]json.RawMessage `json:"classes"`
	}
	var out0 bytes.Buffer
	Run(context.Background(), []string{"goresque", "classes", "--json"}, &out0, io.Discard, lookup, nil)
	if err := json.Unmarshal(out0.Bytes(), &raw); err != nil || len(raw.Classes) == 0 {
		t.Fatalf("classes --json: %v", err)
	}
	for _, k := range []string{"class", "ported", "port_next", "queued", "in_flight", "in_failed", "implementations"} {
		if _, ok := raw.Classes[0][k]; !ok {
			t.Errorf("classes --json: a class lacks %q: %v", k, raw.Classes[0])
		}
	}
	var impls map[string]map[string]json.Number
	if err := json.Unmarshal(raw.Classes[0]["implementations"], &impls); err != nil || len(impls["php"]) != 7 {
		t.Errorf("implementations of %s: %v %v", raw.Classes[0]["class"], impls, err)
	}
	for _, k := range []string{"jobs", "failed", "failure_rate", "total_seconds", "p50_seconds", "p95_seconds", "last_seen"} {
		if _, ok := impls["php"][k]; !ok {
			t.Errorf("implementations.php lacks %q", k)
		}
	}
	if m["Php_Throw"].InFailed != 3 {
		t.Errorf("Php_Throw in failed: %d", m["Php_Throw"].InFailed)
	}
	// Port next: the two PHP classes by PHP time, then what waits, then the rest.
	var order []string
	for i, ci := range rep.Classes {
		order = append(order, ci.Class)
		if ci.PortNext != i+1 {
			t.Errorf("%s: port_next %d at position %d", ci.Class, ci.PortNext, i+1)
		}
	}
	if len(order) != 4 || !strings.HasPrefix(order[0], "Php_") || !strings.HasPrefix(order[1], "Php_") ||
		order[2] != "Waiting_Class" || order[3] != "Test_Ok" {
		t.Fatalf("order %v", order)
	}
	if rep.Classes[0].Impl(resque.ImplPHP).Seconds < rep.Classes[1].Impl(resque.ImplPHP).Seconds {
		t.Errorf("port-next: %s has less PHP time than %s", order[0], order[1])
	}

	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"goresque", "classes"}, &out, &errb, lookup, nil); code != exitOK {
		t.Fatalf("classes: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "NEXT  CLASS") {
		t.Fatalf("table:\n%s", out.String())
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if f[1] == "Php_Throw" && !strings.Contains(l, "3 (100.0%)") {
			t.Errorf("Php_Throw row: %s", l)
		}
		if f[1] == "Test_Ok" && (f[0] != "4" || f[6] != "5") {
			t.Errorf("Test_Ok row: %s", l)
		}
	}
}
