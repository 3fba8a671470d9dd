package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/goldentest"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// TestGoldenPHPJobs runs the golden scenarios whose outcome the PHP job decides (07-16) with
// goresque's worker and the PHP bridge in each process model, and compares the final
// keyspace with real php-resque's, both dialects, after the golden normalisation
// (backtraces and the job pid key aside: they name PHP files and processes).
func TestGoldenPHPJobs(t *testing.T) {
	t.Parallel()
	needPHP(t)
	scenarios := []struct {
		name, class, args string
		jobs              int // jobs processed in the end (16 enqueues one more)
	}{
		{"07-job-success", "Harness_Succeed", `{"sleep":0.01,"n":1}`, 1},
		{"09-job-exception", "Harness_Throw", `{"message":"harness: boom"}`, 1},
		{"10-job-php-error", "Harness_Error", `{"n":1}`, 1},
		{"11-job-fatal-error", "Harness_Fatal", `{"n":1}`, 1},
		{"12-job-exit-nonzero", "Harness_Exit", `{"code":3}`, 1},
		{"13-job-dontperform", "Harness_DontPerform", `{"n":1}`, 1},
		{"14-job-setup-teardown", "Harness_SetUpTearDown", `{"marker":"MARKER"}`, 1},
		{"15-job-unknown-class", "Legacy_NotPorted", `{"n":1}`, 1},
		{"16-job-enqueues-job", "Harness_EnqueueOther", `{"class":"Harness_Succeed","args":{"from":"parent"},"track":true}`, 2},
	}
	for _, d := range []resque.Dialect{resque.DialectPHPResque1, resque.DialectPHPResque136} {
		for _, m := range models {
			for _, sc := range scenarios {
				t.Run(d.String()+"/"+m.name+"/"+sc.name, func(t *testing.T) {
					t.Parallel()
					goldenPHPJob(t, d, m, sc.name, sc.class, sc.args, sc.jobs)
				})
			}
		}
	}
}

// drain runs a worker with php as the fallback until n jobs are processed and no job is in
// flight, then stops it.
func drain(t *testing.T, pool *redis.Pool, php *PHP, cfg resque.Config, n int) {
	t.Helper()
	mux := resque.NewMux()
	mux.Fallback(php)
	cfg.Handler = mux
	w, err := resque.NewWorker(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := pool.Get()
	defer conn.Close()
	keys := w.Keys()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := redis.Int(conn.Do("GET", keys.Stat("processed")))
		busy, _ := redis.Int(conn.Do("HLEN", keys.InFlight()))
		if got >= n && busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processed %d of %d jobs", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Shutdown()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func goldenPHPJob(t *testing.T, d resque.Dialect, m model, name, class, args string, jobs int) {
	srv := redistest.StartTB(t, redistest.Options{})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()

	marker := filepath.Join(t.TempDir(), "marker")
	args = strings.ReplaceAll(args, "MARKER", marker)
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: "", Dialect: d})
	id, err := client.Enqueue(context.Background(), "default", class, json.RawMessage(args), resque.EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	php, err := New(Config{
		AppInclude: app("bootstrap-with-resque.php"),
		Env:        []string{"REDIS_BACKEND=" + srv.Socket},
		Mode:       m.mode, Isolation: m.isolation, Dialect: d,
		Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer php.Close()
	if err := php.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain(t, pool, php, resque.Config{
		Queues: []string{"default"}, Interval: 50 * time.Millisecond, Dialect: d,
		Hostname: goldentest.Host, Location: time.UTC, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	}, jobs)

	exp := goldentest.LoadExpect(t, goldentest.Path("..", d.String(), name))
	// Deliberate difference: php-resque v1.3.6 leaves job:<id>:pid behind when the child
	// dies (11, 12); goresque removes it with the job's outcome.
	for k := range exp.Final {
		if strings.HasSuffix(k, ":pid") {
			delete(exp.Final, k)
		}
	}
	got := goldentest.NewNormalizer().Seed(id).Keys(goldentest.Dump(t, conn))
	goldentest.CompareKeys(t, d.String()+"/"+name+" final keyspace", exp.Final, got)

	if name == "14-job-setup-teardown" {
		b, _ := os.ReadFile(marker)
		if string(b) != "setUp\nperform\ntearDown\n" {
			t.Errorf("marker file: %q", b)
		}
	}
	if strings.Contains(fmt.Sprint(got["resque:failed"].Value), `"backtrace":<BACKTRACE>`) {
		// Backtraces are PHP's getTraceAsString() lines: check their shape.
		raw, _ := redis.Strings(conn.Do("LRANGE", "resque:failed", 0, -1))
		for _, f := range raw {
			if !strings.Contains(f, `"backtrace":["#0 `) || !strings.Contains(f, `{main}"]`) {
				t.Errorf("backtrace shape: %s", f)
			}
		}
	}
}
