package resque

// Regression tests for mixed fleets and the registry: Redis time for heartbeats, lost
// registrations, the prune's lock and errors, exact bytes, /proc liveness, jobs settled by
// other tools, and host-name collisions (issues 7 and 8).

import (
	"context"
	"encoding/base64"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
	"github.com/rs/zerolog"
)

func (b *testBundle) do(t *testing.T, cmds ...[]any) {
	t.Helper()
	for _, c := range cmds {
		if _, err := b.conn.Do(c[0].(string), c[1:]...); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
}

// blockingMux runs "Block" until release is closed and "Ok" at once.
func blockingMux(release <-chan struct{}, running chan<- string) *Mux {
	mux := NewMux()
	mux.HandleFunc("Block", func(ctx context.Context, j *Job) error {
		running <- j.ID
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { return nil })
	return mux
}

// Issue 7 item 5: a host whose clock is 10 minutes off must not have its live worker pruned
// by another host (nor prune others). Heartbeats and staleness use Redis TIME.
func TestHeartbeatUsesRedisTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		skewA, skewB time.Duration
	}{
		{"writer slow", -10 * time.Minute, 0},
		{"pruner fast", 0, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			release, running := make(chan struct{}), make(chan string, 1)
			defer close(release)
			cfgA := b.config(t, blockingMux(release, running), "a")
			cfgA.Hostname, cfgA.HeartbeatInterval = "host-a", 50*time.Millisecond
			cfgA.now = func() time.Time { return time.Now().Add(tc.skewA) }
			wA, _ := b.start(t, cfgA)
			if _, err := b.client.Enqueue(context.Background(), "a", "Block", nil, EnqueueOptions{}); err != nil {
				t.Fatal(err)
			}
			<-running
			cfgB := b.config(t, NewMux(), "b")
			// PruneAfter is far below the 10 minutes of skew and far above any stall of A's
			// heartbeat loop on a loaded machine.
			cfgB.Hostname, cfgB.HeartbeatInterval, cfgB.PruneAfter = "host-b", 50*time.Millisecond, 20*time.Second
			cfgB.now = func() time.Time { return time.Now().Add(tc.skewB) }
			b.start(t, cfgB)
			time.Sleep(400 * time.Millisecond) // B's start prune and several periodic ones
			id := wA.IDs()[0]
			if n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), id)); n != 1 {
				t.Errorf("the live worker %s on a host with a skewed clock was pruned", id)
			}
			if n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Worker(id))); n != 1 {
				t.Error("its running job's record was settled")
			}
			if f := b.failedEntries(t); len(f) != 0 {
				t.Errorf("failed = %v", f)
			}
		})
	}
}

// Issue 7 item 6 / issue 8 item 1: a registration deleted behind the worker's back is
// detected at the next heartbeat and written again, with one log line.
func TestReregisterAfterRegistrationVanished(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var logs lockedBuffer
	cfg := b.config(t, NewMux(), "q")
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.Logger = zerolog.New(&logs)
	w, stop := b.start(t, cfg)
	id := w.IDs()[0]
	b.waitFor(t, "registered", func() bool {
		n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), id))
		return n == 1
	})
	// What FLUSHALL, an empty replica or Ruby's prune leave: nothing of this worker.
	b.do(t, []any{"SREM", b.keys.Workers(), id}, []any{"DEL", b.keys.WorkerStarted(id)},
		[]any{"HDEL", b.keys.Heartbeats(), id})
	b.waitFor(t, "registered again", func() bool {
		n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), id))
		s, _ := redis.Int(b.conn.Do("EXISTS", b.keys.WorkerStarted(id)))
		return n == 1 && s == 1
	})
	time.Sleep(200 * time.Millisecond) // more heartbeats: no more log lines
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "registration had vanished"); n != 1 {
		t.Errorf("%d log lines about the lost registration, want 1:\n%s", n, logs.String())
	}
}

// Issue 7 item 9: a `failed` key of the wrong type plus a dead worker does not stop the
// worker from starting, the prune lock is released, and the cause is logged.
func TestPruneErrorDoesNotStopStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dead := "otherhost:4242:default"
	rec := `{"queue":"default","run_at":"x","payload":{"class":"Ok","args":[]}}`
	b.do(t, []any{"SET", b.keys.Failed(), "not a list"}, []any{"SADD", b.keys.Workers(), dead},
		[]any{"HSET", b.keys.InFlight(), dead, rec}, []any{"HSET", b.keys.Heartbeats(), dead, "2020-01-01T00:00:00+00:00"})
	var logs lockedBuffer
	cfg := b.config(t, blockingMux(nil, nil), "q")
	cfg.Logger = zerolog.New(&logs)
	_, stop := b.start(t, cfg)
	if _, err := b.client.Enqueue(context.Background(), "q", "Ok", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "a job performed", func() bool { return b.processed(t) == 1 })
	if n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.PruneLock())); n != 0 {
		t.Error("the prune lock was not released after the prune failed")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "WRONGTYPE") || !strings.Contains(logs.String(), dead) {
		t.Errorf("the cause is not logged:\n%s", logs.String())
	}
}

// Issue 7 item 8 and issue 8 item 3: records are read in any key order and whitespace,
// and bytes are kept: the payload exactly, a queue name that is not UTF-8, a record that
// is not JSON.
func TestParseWorkingOn(t *testing.T) {
	payload := `{"class":"Ok","args":[{"a":"b\/c","u":"\u00fc"}],"id":"x"}`
	for _, tc := range []struct{ rec, queue, payload string }{
		{`{"queue":"default","run_at":"Tue","payload":` + payload + `}`, "default", payload},
		{`{"run_at":"Fri Dec 12 2014 14:01:16 GMT-0800 (PST)","queue":"node","payload":` + payload + `,"worker":"h:1"}`, "node", payload},
		{" {\n \"payload\" : " + payload + " ,\n \"queue\" : \"q\\u00fc\" } ", "qü", payload},
		{`{"queue":"bad` + "\xff" + `q","payload":[1, 2]}`, "bad\xffq", `[1, 2]`},
		{`{"queue":"a\"b\\c\/d\ud83d\ude00","payload":"s"}`, "a\"b\\c/d😀", `"s"`},
		{"not json \x00\xff", "", "not json \x00\xff"},
		{`{"queue":"q","run_at":"x"}`, "", `{"queue":"q","run_at":"x"}`},
		{`{"queue":"q","payload":{"class":`, "q", `{"class":`},
		// goresque's own record embeds whatever the queue held, as its last value.
		{`{"queue":"q","run_at":"x","payload":not json at all}`, "q", `not json at all`},
		{`{"queue":"q","run_at":"x","payload":}`, "q", ``},
		{`{"queue":"q","run_at":"x","payload":{"a":1} trailing}`, "q", `{"a":1} trailing`},
	} {
		q, p := parseWorkingOn([]byte(tc.rec))
		if q != tc.queue || string(p) != tc.payload {
			t.Errorf("parseWorkingOn(%q) = %q, %q; want %q, %q", tc.rec, q, p, tc.queue, tc.payload)
		}
	}
}

// pruneByOtherHost starts a worker on another host that prunes stale workers at once.
func (b *testBundle) pruneByOtherHost(t *testing.T, policy DeadJobPolicy) {
	t.Helper()
	cfg := b.config(t, NewMux(), "other-queue")
	cfg.Hostname, cfg.DeadJobs = "pruner", policy
	_, stop := b.start(t, cfg)
	b.waitFor(t, "the prune", func() bool {
		n, _ := redis.Int(b.conn.Do("HLEN", b.keys.InFlight()))
		return n == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Issue 7 item 8: a job from a queue whose name is not valid UTF-8 is requeued to its exact
// key; a worker:<id> value that is not JSON keeps its bytes in the failure record.
func TestPruneKeepsBytes(t *testing.T) {
	t.Parallel()
	for _, wildcard := range []bool{false, true} {
		t.Run("queue name/wildcard="+strconv.FormatBool(wildcard), func(t *testing.T) {
			t.Parallel()
			queueName(t, wildcard)
		})
	}
	t.Run("record not JSON", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		dead := "otherhost:4243:q"
		rec := "garbage\x00\xfe{"
		b.do(t, []any{"SADD", b.keys.Workers(), dead}, []any{"SET", b.keys.Worker(dead), rec},
			[]any{"HSET", b.keys.InFlight(), dead, rec}, []any{"HSET", b.keys.Heartbeats(), dead, "2020-01-01T00:00:00+00:00"})
		b.pruneByOtherHost(t, FailDeadJobs)
		f := b.failedEntries(t)
		if len(f) != 1 {
			t.Fatalf("failed = %v", f)
		}
		got, err := base64.StdEncoding.DecodeString(f[0]["payload_base64"].(string))
		if err != nil || string(got) != rec {
			t.Errorf("payload_base64 gives %q, want the record's bytes %q", got, rec)
		}
	})
	t.Run("node-resque key order", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		dead := "otherhost:4244:jobs"
		payload := `{"class":"Ok","queue":"jobs","args":[{"n":1}]}`
		rec := `{"run_at":"Fri Dec 12 2014 14:01:16 GMT-0800 (PST)","queue":"jobs","payload":` + payload + `,"worker":"otherhost:4244"}`
		b.do(t, []any{"SADD", b.keys.Workers(), dead}, []any{"SET", b.keys.Worker(dead), rec},
			[]any{"HSET", b.keys.Heartbeats(), dead, "2020-01-01T00:00:00+00:00"})
		cfg := b.config(t, NewMux(), "other-queue")
		cfg.Hostname = "pruner"
		_, stop := b.start(t, cfg)
		b.waitFor(t, "the prune", func() bool {
			n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Worker(dead)))
			return n == 0
		})
		_ = stop()
		raws, _ := redis.Strings(b.conn.Do("LRANGE", b.keys.Failed(), 0, -1))
		if len(raws) != 1 || !strings.Contains(raws[0], `"payload":`+payload+`,`) || !strings.Contains(raws[0], `"queue":"jobs"`) {
			t.Errorf("failed = %q", raws)
		}
	})
}

// queueName: a dead worker of queue "bad\xffq" (or of QUEUE=*) has its job requeued to
// exactly that key.
func queueName(t *testing.T, wildcard bool) {
	b := setup(t)
	q := "bad\xffq"
	dead := "otherhost:4242:" + q
	if wildcard {
		dead = "otherhost:4242:*"
		b.do(t, []any{"SADD", b.keys.Queues(), q, "other"})
	}
	payload := `{"class":"Ok","args":[],"id":"0123456789abcdef0123456789abcdef"}`
	head, _ := phpjson.AppendString([]byte(`{"queue":`), validUTF8(q)) // as slot.go writes it
	rec := string(head) + `,"run_at":"x","payload":` + payload + `}`
	b.do(t, []any{"SADD", b.keys.Workers(), dead}, []any{"HSET", b.keys.InFlight(), dead, rec},
		[]any{"SET", b.keys.Worker(dead), rec}, []any{"HSET", b.keys.Heartbeats(), dead, "2020-01-01T00:00:00+00:00"})
	b.pruneByOtherHost(t, RequeueDeadJobs)
	got, _ := redis.Strings(b.conn.Do("LRANGE", b.keys.Queue(q), 0, -1))
	if len(got) != 1 || got[0] != payload {
		keys, _ := redis.Strings(b.conn.Do("KEYS", b.ns+"queue:*"))
		t.Errorf("queue %q holds %q; queues: %q", q, got, keys)
	}
}

// startProcess starts a long-running process with argv[0] set to name and returns its pid.
func startProcess(t *testing.T, name string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", `exec -a "$0" sleep 60`, name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for { // until exec replaced the shell
		b, _ := exec.Command("cat", "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/cmdline").Output()
		if strings.HasPrefix(string(b), name+"\x00") || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd.Process.Pid
}

// Issue 8 item 2: same-host liveness. A process that started before its worker registered
// is alive whatever its command line (node-resque runs as "node app.js"); a pid reused by a
// newer process is dead even when its command line says "resque"; a fresh Ruby heartbeat or
// node-resque ping means alive.
func TestSameHostLiveness(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := func(q string) string {
		return `{"run_at":"x","queue":"` + q + `","payload":{"class":"Ok","args":[]}}`
	}
	future := time.Now().Add(time.Hour).Format("Mon Jan 02 15:04:05 MST 2006")
	past := time.Now().Add(-time.Hour).Format("Mon Jan 02 15:04:05 MST 2006")
	now, _ := redisTime(b.conn)
	nodeLive := "testhost:" + strconv.Itoa(startProcess(t, "node")) + ":n"
	reused := "testhost:" + strconv.Itoa(startProcess(t, "php-resque-runner")) + ":r"
	rubyPID, nodePID := deadPID(t), deadPID(t)
	rubyBeat := "testhost:" + strconv.Itoa(rubyPID) + ":ruby"
	nodePing := "testhost:" + strconv.Itoa(nodePID) + ":nodeq"
	gone := "testhost:" + strconv.Itoa(deadPID(t)) + ":g"
	b.do(t,
		[]any{"SADD", b.keys.Workers(), nodeLive, reused, rubyBeat, nodePing, gone},
		[]any{"SET", b.keys.WorkerStarted(nodeLive), strconv.FormatInt(time.Now().Unix()+3600, 10)}, // node: unix seconds
		[]any{"SET", b.keys.Worker(nodeLive), rec("n")},
		[]any{"SET", b.keys.WorkerStarted(reused), past},
		[]any{"SET", b.keys.Worker(reused), rec("r")},
		[]any{"SET", b.keys.WorkerStarted(rubyBeat), future},
		[]any{"HSET", b.keys.Heartbeats(), rubyBeat, now.Format(time.RFC3339)},
		[]any{"SET", b.keys.NodePing("testhost:" + strconv.Itoa(nodePID)), `{"time":` + strconv.FormatInt(now.Unix(), 10) + `,"name":"x","queues":"nodeq"}`},
		[]any{"SET", b.keys.Worker(gone), rec("g")},
	)
	_, stop := b.start(t, b.config(t, NewMux(), "q"))
	b.waitFor(t, "the dead workers pruned", func() bool {
		n, _ := redis.Int(b.conn.Do("SCARD", b.keys.Workers()))
		return n <= 4
	})
	time.Sleep(100 * time.Millisecond)
	_ = stop()
	for id, alive := range map[string]bool{nodeLive: true, rubyBeat: true, nodePing: true, reused: false, gone: false} {
		n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), id))
		if (n == 1) != alive {
			t.Errorf("%s: registered %v, want %v", id, n == 1, alive)
		}
	}
	if f := b.failedEntries(t); len(f) != 2 {
		t.Errorf("%d failure records, want 2 (the reused pid's and the gone one's): %v", len(f), f)
	}
}

// Issue 8 item 4: a job another tool already recorded as a dirty exit (Ruby's prune here,
// which re-encodes the payload) is not recorded again; one php-resque dropped silently is.
func TestPruneSkipsJobSettledElsewhere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	payload := `{"class":"Ok","args":[{"path":"a\/b","n":1}],"id":"0123456789abcdef0123456789abcdef"}`
	rubyPruned, phpPruned := "otherhost:1:q", "otherhost:2:q"
	ruby := `{"failed_at":"2026/12/01 19:00:00 UTC","payload":{"class":"Ok","args":[{"path":"a/b","n":1}],"id":"0123456789abcdef0123456789abcdef"},` +
		`"exception":"Resque::PruneDeadWorkerDirtyExit","error":"Worker otherhost:1:q did not gracefully exit while processing Ok","backtrace":[],"worker":"otherhost:1:q","queue":"q"}`
	for _, id := range []string{rubyPruned, phpPruned} {
		b.do(t, []any{"HSET", b.keys.InFlight(), id, `{"queue":"q","run_at":"x","payload":` + payload + `}`})
	}
	b.do(t, []any{"RPUSH", b.keys.Failed(), ruby}, []any{"SET", b.keys.Stat("failed"), 1})
	b.pruneByOtherHost(t, FailDeadJobs)
	f := b.failedEntries(t)
	if len(f) != 2 || f[1]["worker"] != phpPruned || f[1]["exception"] != ExceptionDirtyExit {
		t.Errorf("failed = %v; want Ruby's record and one for the job php-resque dropped", f)
	}
	if n := b.getInt(t, b.keys.Stat("failed")); n != 2 {
		t.Errorf("stat:failed = %d, want 2", n)
	}
}

// Issue 8 item 5: two containers sharing a host name (host networking), both goresque as
// pid 1: the second picks a distinct id instead of pruning the first's live registration.
func TestHostNameCollision(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release, running := make(chan struct{}), make(chan string, 2)
	defer close(release)
	var logs lockedBuffer
	cfg := func(ns string) Config {
		c := b.config(t, blockingMux(release, running), "q")
		c.Hostname, c.pid, c.pidNS, c.HeartbeatInterval = "node1", 1, ns, 50*time.Millisecond
		return c
	}
	wA, _ := b.start(t, cfg("pid:[1001]"))
	if _, err := b.client.Enqueue(context.Background(), "q", "Block", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	<-running
	cB := cfg("pid:[1002]")
	cB.Logger = zerolog.New(&logs)
	wB, _ := b.start(t, cB)
	if _, err := b.client.Enqueue(context.Background(), "q", "Block", nil, EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	<-running // B works too
	time.Sleep(200 * time.Millisecond)
	a, bID := wA.IDs()[0], wB.IDs()[0]
	if a != "node1:1:q" || bID != "node1_i2:1:q" {
		t.Errorf("ids %s and %s, want node1:1:q and node1_i2:1:q", a, bID)
	}
	for _, id := range []string{a, bID} {
		if n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.Worker(id))); n != 1 {
			t.Errorf("%s: its running job's record is gone", id)
		}
		if n, _ := redis.Int(b.conn.Do("SISMEMBER", b.keys.Workers(), id)); n != 1 {
			t.Errorf("%s is not registered", id)
		}
	}
	if f := b.failedEntries(t); len(f) != 0 {
		t.Errorf("failed = %v", f)
	}
	if !strings.Contains(logs.String(), "host networking") {
		t.Errorf("no log line says why the id changed:\n%s", logs.String())
	}
}
