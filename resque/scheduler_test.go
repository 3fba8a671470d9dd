package resque

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

var rePayload = regexp.MustCompile(`^\{"class":"App\\\\Job","args":\[\{"n":(\d+)\}\],"id":"[0-9a-f]{32}",(?:"prefix":"",)?"queue_time":\d+(\.\d+)?\}$`)

// php-resque-scheduler moves goresque's delayed jobs, goresque's scheduler moves
// ResqueScheduler::enqueueIn's, and the payloads are the same either way.
func TestSchedulerInteropWithPHP(t *testing.T) {
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			e, php := newPHPEnv(t, d)
			past := time.Now().Add(-time.Minute)
			for i := 0; i < 3; i++ {
				if err := e.client.EnqueueAt(bg, past, "gq", `App\Job`, map[string]any{"n": i}); err != nil {
					t.Fatal(err)
				}
			}
			php.run("scheduler-pass")
			phpMoved := e.list("queue:gq")
			if len(phpMoved) != 3 {
				t.Fatalf("php-resque-scheduler moved %d of goresque's 3 jobs", len(phpMoved))
			}
			// PHP left goresque's timestamps:<item> keys behind (it knows nothing of them);
			// they name lists that no longer exist, which Ruby's tools tolerate.
			for i := 0; i < 3; i++ {
				php.run("enqueue-in", "-5", "pq", `App\Job`, fmt.Sprintf(`{"n":%d}`, i))
			}
			s, err := NewScheduler(e.pool, SchedulerConfig{Namespace: e.ns, Dialect: d, Logger: zerolog.New(zerolog.NewTestWriter(t))})
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.Pass(bg)
			if err != nil || n != 3 {
				t.Fatalf("goresque moved %d of PHP's 3 jobs: %v", n, err)
			}
			goMoved := e.list("queue:pq")
			for i, p := range append(phpMoved, goMoved...) {
				m := rePayload.FindStringSubmatch(p)
				if m == nil || m[1] != strconv.Itoa(i%3) {
					t.Errorf("payload %d: %s", i, p)
				}
				if (d == DialectPHPResque136) != regexp.MustCompile(`"prefix":""`).MatchString(p) {
					t.Errorf("payload %d: prefix field does not match the dialect: %s", i, p)
				}
			}
			if ex, _ := redis.Int(e.do("EXISTS", e.ns+"delayed_queue_schedule"), nil); ex != 0 {
				t.Error("schedule not empty")
			}
		})
	}
}

// Two goresque schedulers and php-resque-scheduler on one Redis: 10,000 delayed jobs due at
// once are each moved exactly once.
func TestSchedulersMoveEachJobOnce(t *testing.T) {
	t.Parallel()
	e, php := newPHPEnv(t, DialectPHPResque1)
	const jobs = 10000
	past := time.Now().Add(-10 * time.Second).Unix()
	// Ten timestamps of 1,000 jobs each, all due, written as EnqueueAt writes them.
	conn := e.conn
	for ts := past; ts < past+10; ts++ {
		for i := 0; i < jobs/10; i++ {
			n := int(ts-past)*(jobs/10) + i
			item, err := delayedItem("q", `App\Job`, map[string]any{"n": n})
			if err != nil {
				t.Fatal(err)
			}
			if err := conn.Send("RPUSH", e.client.keys.Delayed(strconv.FormatInt(ts, 10)), item); err != nil {
				t.Fatal(err)
			}
		}
		if err := conn.Send("ZADD", e.client.keys.DelayedSchedule(), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pipelined(conn); err != nil {
		t.Fatal(err)
	}
	phpCmd := php.cmd("scheduler-loop")
	if err := phpCmd.Start(); err != nil {
		t.Fatal(err)
	}
	phpDone := make(chan error, 1)
	go func() { phpDone <- phpCmd.Wait() }()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	moved := make([]int, 2)
	for i := range 2 {
		s, err := NewScheduler(e.pool, SchedulerConfig{Namespace: e.ns, Interval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n, err := s.Pass(bg)
				if err != nil {
					t.Error(err)
					return
				}
				moved[i] += n
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, _ := redis.Int(e.do("LLEN", e.ns+"queue:q"), nil)
		left, _ := redis.Int(e.do("ZCARD", e.ns+"delayed_queue_schedule"), nil)
		if n >= jobs && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes: %d jobs queued, %d timestamps left", n, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	_ = phpCmd.Process.Kill()
	if err := <-phpDone; err != nil {
		if _, killed := err.(*exec.ExitError); !killed {
			t.Fatal(err)
		}
	}
	q := e.list("queue:q")
	seen := make([]int, jobs)
	for _, p := range q {
		var pl struct {
			Args []struct{ N int } `json:"args"`
		}
		if err := json.Unmarshal([]byte(p), &pl); err != nil || len(pl.Args) != 1 {
			t.Fatalf("payload %s: %v", p, err)
		}
		seen[pl.Args[0].N]++
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("job %d moved %d times", n, c)
		}
	}
	if len(q) != jobs {
		t.Errorf("%d jobs on the queue, want %d", len(q), jobs)
	}
	t.Logf("moved: goresque %d + %d, php-resque-scheduler %d", moved[0], moved[1], jobs-moved[0]-moved[1])
	if moved[0] == 0 || moved[1] == 0 || moved[0]+moved[1] == jobs {
		t.Logf("note: not all three schedulers moved jobs in this run")
	}
}

// Cancelling Run's context stops it after the current pass, never in the middle of one.
func TestSchedulerStopsAfterThePass(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque136)
	const jobs = 3000
	past := time.Now().Add(-time.Minute)
	for i := 0; i < jobs; i++ {
		if err := e.client.EnqueueAt(bg, past.Add(time.Duration(i%30)*time.Second), "q", "J", map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewScheduler(e.pool, SchedulerConfig{Namespace: e.ns, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for {
		if n, _ := redis.Int(e.do("LLEN", e.ns+"queue:q"), nil); n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if n, _ := redis.Int(e.do("LLEN", e.ns+"queue:q"), nil); n != jobs {
		t.Errorf("%d of %d due jobs moved: the pass was cut short", n, jobs)
	}
}
