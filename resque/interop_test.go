package resque

// The interoperability test runs real php-resque beside goresque on one Redis and host:
// PHP pushes jobs goresque performs, goresque pushes jobs a PHP worker performs, PHP's
// monitoring API reads goresque's records, and a PHP worker starting up (and pruning) leaves
// the live goresque worker alone.
//
// php-resque 1.x and 1.3.6 are the unmodified trees in ../shared/thirdparty, run through
// internal/interop.PHPResque (a stand-in for Composer's autoloader). Outside CI a missing
// tree or php skips the test, saying so; under CI=true it fails.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/interop"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

type phpResque struct {
	t        *testing.T
	dir      string // the dialect's checkout
	backend  string // host:port
	prefix   string
	client   string // testdata/interop/client.php
	autoload string
}

func (p *phpResque) run(action string, args ...string) json.RawMessage {
	p.t.Helper()
	cmdArgs := append([]string{"-d", "error_reporting=22527", p.client, p.autoload, p.backend, p.prefix, action}, args...)
	out, err := exec.Command("php", cmdArgs...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.t.Fatalf("php %s: %v: %s%s", action, err, out, ee.Stderr)
		}
		p.t.Fatalf("php %s: %v", action, err)
	}
	return out
}

func TestInteropPHPResque(t *testing.T) {
	t.Parallel()
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			phpInterop(t, d, interop.PHPResque(t, d.String()))
		})
	}
}

func phpInterop(t *testing.T, d Dialect, dir string) {
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	abs, _ := filepath.Abs(filepath.Join("..", "testdata", "interop"))
	php := &phpResque{
		t: t, dir: dir, backend: "127.0.0.1:" + strconv.Itoa(srv.Port), prefix: "interop",
		client: filepath.Join(abs, "client.php"), autoload: filepath.Join(dir, "vendor", "autoload.php"),
	}
	ns := "interop:"
	client := NewClient(pool, ClientConfig{Namespace: ns, Dialect: d})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 1. PHP pushes, goresque performs; PHP watches goresque work.
	var phpID string
	if err := json.Unmarshal(php.run("enqueue", "default", "Interop_GoJob", `{"n":7}`, "1"), &phpID); err != nil || len(phpID) != 32 {
		t.Fatalf("Resque::enqueue returned %q (%v)", phpID, err)
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseJob := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseJob() // a failing check must not leave the worker waiting for the job
	running := make(chan struct{}, 1)
	mux := NewMux()
	mux.HandleFunc("Interop_GoJob", func(ctx context.Context, j *Job) error {
		if j.Int("n") != 7 || j.ID != phpID {
			return fmt.Errorf("args %s, id %s", j.Arg(), j.ID)
		}
		running <- struct{}{}
		<-release
		j.SetResult("go-ok")
		return nil
	})
	mux.HandleFunc("Interop_GoFail", func(ctx context.Context, j *Job) error {
		return &JobError{Exception: `App\Exceptions\Declined`, Message: "card declined: ünïcode / slash", Backtrace: []string{"#0 go", "#1 {main}"}}
	})
	w, err := NewWorker(pool, Config{
		Namespace: ns, Queues: []string{"default"}, Interval: 100 * time.Millisecond, Dialect: d,
		Concurrency: 2, // slot 1 has the id hostname_1:pid:queues, which PHP must leave alone too
		Handler:     mux, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	defer func() {
		releaseJob()
		w.Shutdown()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-running
	// Resque_Worker::job() is the decoded worker:<id> record, or array() when idle.
	var workers map[string]json.RawMessage
	if err := json.Unmarshal(php.run("workers"), &workers); err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	for _, id := range w.IDs() {
		raw, ok := workers[id]
		if !ok {
			t.Fatalf("Resque_Worker::all() does not list goresque's worker %s: %s", id, php.run("workers"))
		}
		if string(raw) != "[]" {
			if err := json.Unmarshal(raw, &job); err != nil {
				t.Fatalf("Resque_Worker::job() of %s: %s", id, raw)
			}
		}
	}
	if job == nil || job["queue"] != "default" || job["payload"].(map[string]any)["class"] != "Interop_GoJob" {
		t.Errorf("Resque_Worker::job() = %v", job)
	}
	if got := string(php.run("status", phpID)); got != "2" {
		t.Errorf("Resque_Job_Status::get() during the job = %s, want 2", got)
	}

	// 2. A php-resque worker starts on this host: its prune must leave goresque alone.
	cmd := exec.Command("php", "-d", "error_reporting=22527", filepath.Join(dir, "bin", "resque"))
	cmd.Env = append(os.Environ(), "QUEUE=php", "INTERVAL=1", "REDIS_BACKEND="+php.backend, "PREFIX=interop",
		"APP_INCLUDE="+filepath.Join(abs, "jobs.php"))
	var phpOut strings.Builder
	cmd.Stdout, cmd.Stderr = &phpOut, &phpOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	phpDone := make(chan struct{})
	go func() { _ = cmd.Wait(); close(phpDone) }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-phpDone:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("php-resque worker output:\n%s", phpOut.String())
		}
	}()
	phpWorker := fmt.Sprintf(":%d:php", cmd.Process.Pid)
	waitFor("the php-resque worker to register", func() bool {
		ids, _ := redis.Strings(conn.Do("SMEMBERS", ns+"workers"))
		return strings.Contains(strings.Join(ids, " "), phpWorker)
	})
	busy := 0
	for _, id := range w.IDs() {
		if n, _ := redis.Int(conn.Do("SISMEMBER", ns+"workers", id)); n != 1 {
			t.Fatalf("php-resque's prune removed the live goresque worker %s", id)
		}
		n, _ := redis.Int(conn.Do("EXISTS", ns+"worker:"+id))
		busy += n
	}
	if busy != 1 {
		t.Fatalf("php-resque's prune deleted goresque's in-flight record")
	}
	releaseJob()
	waitFor("the PHP-pushed job to complete", func() bool { return string(php.run("status", phpID)) == "4" })
	if got := string(php.run("stat", "processed")); got != "1" {
		t.Errorf("Resque_Stat::get('processed') = %s, want 1", got)
	}

	// 3. goresque pushes, the php-resque worker performs.
	goID, err := client.Enqueue(context.Background(), "php", "Interop_PhpJob", PHPObject{{Key: "x", Value: "ü/1"}}, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the PHP worker to complete goresque's job", func() bool {
		st, err := client.Status(context.Background(), goID, "")
		return err == nil && st.Status == StatusComplete
	})
	if d == DialectPHPResque136 {
		st, _ := client.Status(context.Background(), goID, "")
		if string(st.Result) != `"php-ok:\u00fc\/1"` {
			t.Errorf("PHP job result = %s", st.Result)
		}
	}

	// 4. goresque's failure records read back in PHP.
	if _, err := client.Enqueue(context.Background(), "default", "Interop_GoFail", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the failure", func() bool {
		n, _ := redis.Int(conn.Do("LLEN", ns+"failed"))
		return n == 1
	})
	var failed []map[string]any
	if err := json.Unmarshal(php.run("failed"), &failed); err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0] == nil || failed[0]["exception"] != `App\Exceptions\Declined` ||
		failed[0]["error"] != "card declined: ünïcode / slash" || !strings.HasSuffix(failed[0]["worker"].(string), ":default") {
		t.Errorf("failed entries as PHP reads them: %v", failed)
	}
}
