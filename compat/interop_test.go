package compat

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/interop"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// TestBridgeWithRealPHPResque runs PHP jobs through the bridge inside an application whose
// bootstrap loads real php-resque (../shared/thirdparty, through internal/interop.PHPResque):
// the job object is php-resque's Resque_Job, DontPerform is php-resque's class, and a job's
// own Resque::enqueue() reaches Redis through php-resque. Outside CI a missing tree skips,
// saying so; under CI=true it fails.
func TestBridgeWithRealPHPResque(t *testing.T) {
	needPHP(t)
	for _, d := range []resque.Dialect{resque.DialectPHPResque1, resque.DialectPHPResque136} {
		autoload := filepath.Join(interop.PHPResque(t, d.String()), "vendor", "autoload.php")
		for _, m := range models {
			t.Run(d.String()+"/"+m.name, func(t *testing.T) { bridgeWithPHPResque(t, d, m, autoload) })
		}
	}
}

func bridgeWithPHPResque(t *testing.T, d resque.Dialect, m model, autoload string) {
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	bootstrap := filepath.Join(t.TempDir(), "bootstrap.php")
	code := "<?php\nrequire " + strconv.Quote(autoload) + ";\nrequire " + strconv.Quote(app("bootstrap.php")) + ";\n"
	if err := os.WriteFile(bootstrap, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	php, err := New(Config{
		AppInclude: bootstrap, Env: []string{"REDIS_BACKEND=127.0.0.1:" + strconv.Itoa(srv.Port)},
		Mode: m.mode, Isolation: m.isolation, Dialect: d, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer php.Close()
	if err := php.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: "", Dialect: d})
	lifecycle := filepath.Join(t.TempDir(), "lifecycle.json")
	parent, err := client.Enqueue(context.Background(), "default", "Harness_EnqueueOther",
		json.RawMessage(`{"class":"Harness_Succeed","args":{"from":"parent"},"track":true}`), resque.EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	skipped, _ := client.Enqueue(context.Background(), "default", "Harness_DontPerform", nil, resque.EnqueueOptions{Track: true})
	_, _ = client.Enqueue(context.Background(), "default", "Php_Lifecycle", map[string]any{"file": lifecycle}, resque.EnqueueOptions{})
	// And one pushed by php-resque itself (Resque::enqueue), for a class with no Go handler.
	out, err := exec.Command("php", "-d", "error_reporting=22527", filepath.Join("..", "testdata", "interop", "client.php"),
		autoload, "127.0.0.1:"+strconv.Itoa(srv.Port), "resque", "enqueue", "default", "Php_Succeed", `{"name":"from php"}`, "1").Output()
	if err != nil {
		t.Fatalf("Resque::enqueue: %v: %s", err, out)
	}
	var pushed string
	if err := json.Unmarshal(out, &pushed); err != nil || len(pushed) != 32 {
		t.Fatalf("Resque::enqueue returned %s", out)
	}
	drain(t, pool, php, resque.Config{Queues: []string{"default"}, Interval: 50 * time.Millisecond, Dialect: d}, 5)
	if st, err := client.Status(context.Background(), pushed, ""); err != nil || st.Status != resque.StatusComplete {
		t.Errorf("job pushed by php-resque: %+v %v", st, err)
	} else if d == resque.DialectPHPResque136 && string(st.Result) != `"php:from php"` {
		t.Errorf("job pushed by php-resque: result %s", st.Result)
	}
	st, err := client.Status(context.Background(), parent, "")
	if err != nil || st.Status != resque.StatusComplete {
		t.Fatalf("parent: %+v %v", st, err)
	}
	if d == resque.DialectPHPResque136 {
		var child string
		if err := json.Unmarshal(st.Result, &child); err != nil || len(child) != 32 {
			t.Fatalf("parent result %s: want the child's id", st.Result)
		}
		if cst, err := client.Status(context.Background(), child, ""); err != nil || cst.Status != resque.StatusComplete {
			t.Errorf("child enqueued by php-resque inside the job: %+v %v", cst, err)
		}
	}
	if st, _ := client.Status(context.Background(), skipped, ""); st.Status != resque.StatusComplete {
		t.Errorf("DontPerform: %+v", st)
	}
	if f, _ := redis.Int(conn.Do("LLEN", "resque:failed")); f != 0 {
		raw, _ := redis.Strings(conn.Do("LRANGE", "resque:failed", 0, -1))
		t.Errorf("failures: %v", raw)
	}
	b, _ := os.ReadFile(lifecycle)
	var lc struct {
		Seen struct {
			JobClass string `json:"job_class"`
		} `json:"seen"`
	}
	if json.Unmarshal(b, &lc) != nil || lc.Seen.JobClass != "Resque_Job" {
		t.Errorf("the job object was not php-resque's Resque_Job: %s", b)
	}
}
