package resque

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
)

// The scripts are called directly here, with the argument structs the worker uses, against
// the real test Redis: each KEYS/ARGV line of their documentation is exercised once.

func scriptConn(t *testing.T) (*testBundle, redis.Conn) {
	t.Helper()
	b := setup(t)
	c := b.pool.Get()
	t.Cleanup(func() { c.Close() })
	if err := loadScripts(c); err != nil {
		t.Fatal(err)
	}
	return b, c
}

func testCycleArgs(k Keys, id string, queues ...string) *cycleArgs {
	a := &cycleArgs{id: id, sched: k.DelayedSchedule(), pauseKey: k.PauseAllWorkers(), routesRev: k.RoutesRev()}
	a.fixed = [8]any{k.Worker(id), k.InFlight(), k.Queues(), k.Stat("processed"),
		k.WorkerStat("processed", id), k.Stat("failed"), k.WorkerStat("failed", id), k.Failed()}
	for _, q := range queues {
		a.queueKeys = append(a.queueKeys, k.Queue(q))
		a.heads = append(a.heads, `{"queue":"`+q+`"`)
	}
	return a
}

func do(t *testing.T, c redis.Conn, cmd string, args ...any) any {
	t.Helper()
	v, err := c.Do(cmd, args...)
	if err != nil && !errors.Is(err, redis.ErrNil) {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return v
}

func runCycle(t *testing.T, c redis.Conn, a *cycleArgs) []any {
	t.Helper()
	v, err := redis.Values(c.Do("EVALSHA", a.evalshaTo(nil)...)) // the workers' call
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != cycleReplyLen {
		t.Fatalf("cycle reply %v", v)
	}
	return v
}

// TestCycleScriptReturnsRoutesRev: every claim returns goresque:routes:rev, read with the
// pause switch, so a worker sees a routing change at its next claim without another call.
func TestCycleScriptReturnsRoutesRev(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	a := testCycleArgs(b.keys, "h:1:q", "q")
	a.claim, a.recordTail, a.token = true, `,"run_at":"D","payload":`, "t1"
	if v := runCycle(t, c, a); v[4] != nil {
		t.Fatalf("no revision yet: reply %v", v)
	}
	do(t, c, "INCR", b.keys.RoutesRev())
	if v := runCycle(t, c, a); string(v[4].([]byte)) != "1" {
		t.Fatalf("revision 1: reply %v", v)
	}
	do(t, c, "SET", b.keys.PauseAllWorkers(), "true")
	if v := runCycle(t, c, a); v[1].(int64) != -4 || string(v[4].([]byte)) != "1" {
		t.Fatalf("paused: reply %v", v)
	}
}

func TestCycleScriptClaimAndFinish(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:low,high"
	a := testCycleArgs(k, id, "high", "low")
	a.claim, a.recordTail, a.token = true, `,"run_at":"D","payload":`, "t1"

	// Nothing queued: -3.
	if v := runCycle(t, c, a); v[1].(int64) != -3 {
		t.Fatalf("empty claim = %v", v)
	}
	p := `{"class":"A","args":[],"id":"0123456789abcdef0123456789abcdef","queue_time":1}`
	do(t, c, "RPUSH", k.Queue("low"), p)
	do(t, c, "RPUSH", k.Queue("high"), `{"class":"B","args":[]}`)
	v := runCycle(t, c, a)
	if v[1].(int64) != 0 || string(v[2].([]byte)) != `{"class":"B","args":[]}` {
		t.Fatalf("claim = %v, want the high queue's job", v)
	}
	// worker:<id> is php-resque's record; goresque's copy carries the claim token.
	if s, _ := redis.String(do(t, c, "GET", k.Worker(id)), nil); s != `{"queue":"high","run_at":"D","payload":{"class":"B","args":[]}}` {
		t.Fatalf("worker record %q", s)
	}
	rec := `{"queue":"high","claim":"t1","run_at":"D","payload":{"class":"B","args":[]}}`
	if s, _ := redis.String(do(t, c, "HGET", k.InFlight(), id), nil); s != rec || s != string(a.inflightRecord(0, []byte(`{"class":"B","args":[]}`))) {
		t.Fatalf("in-flight record %q, want %q", s, rec)
	}
	// A job is in flight: a claim without finishing it never overwrites it.
	if v := runCycle(t, c, a); v[1].(int64) != -2 {
		t.Fatalf("claim over an in-flight job = %v", v)
	}

	// Finish it as failed, tracked (v1.3.6 splice), and claim the next one.
	sk := k.JobStatus("0123456789abcdef0123456789abcdef", "")
	do(t, c, "SET", sk, `{"status":2,"updated":5,"started":3,"result":null}`)
	do(t, c, "SET", k.JobPID("x"), "42")
	a.fin = &outcome{statusKey: sk, pidKey: k.JobPID("x"), sha: sha1hex([]byte(rec)), failure: `{"f":1}`,
		head: `{"status":3,"updated":9,"started":`, tail: `,"result":null}`, splice: "1", delPID: "1"}
	v = runCycle(t, c, a)
	if v[0].(int64) != 1 || v[1].(int64) != 1 || string(v[2].([]byte)) != p {
		t.Fatalf("finish+claim = %v", v)
	}
	if s, _ := redis.String(do(t, c, "GET", sk), nil); s != `{"status":3,"updated":9,"started":3,"result":null}` {
		t.Errorf("status %s", s)
	}
	if ttl, _ := redis.Int(do(t, c, "TTL", sk), nil); ttl <= 0 {
		t.Errorf("status TTL %d", ttl)
	}
	if n, _ := redis.Int(do(t, c, "EXISTS", k.JobPID("x")), nil); n != 0 {
		t.Error("pid key not deleted")
	}
	if f, _ := redis.Strings(do(t, c, "LRANGE", k.Failed(), 0, -1), nil); len(f) != 1 || f[0] != `{"f":1}` {
		t.Errorf("failed = %v", f)
	}
	for _, key := range []string{k.Stat("processed"), k.WorkerStat("processed", id), k.Stat("failed"), k.WorkerStat("failed", id)} {
		if n, _ := redis.Int(do(t, c, "GET", key), nil); n != 1 {
			t.Errorf("%s = %d", key, n)
		}
	}

	// Replaying a finish whose record is gone changes nothing.
	a.claim = false
	if v := runCycle(t, c, a); v[0].(int64) != 0 {
		t.Fatalf("replayed finish = %v", v)
	}
	if n, _ := redis.Int(do(t, c, "GET", k.Stat("processed")), nil); n != 1 {
		t.Errorf("stat:processed = %d after a replay", n)
	}
}

// QUEUE=*: a claim whose list was read from a set of another size claims nothing (-1), so
// the caller reads the set again; a queue removed or added is never missed for long.
func TestCycleScriptWildcardStale(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:*"
	a := testCycleArgs(k, id, "a")
	a.claim, a.recordTail, a.card = true, `,"run_at":"D","payload":`, "1"
	do(t, c, "SADD", k.Queues(), "a", "b")
	do(t, c, "RPUSH", k.Queue("a"), `{"class":"X","args":[]}`)
	if v := runCycle(t, c, a); v[1].(int64) != -1 {
		t.Fatalf("stale list = %v", v)
	}
	if n, _ := redis.Int(do(t, c, "LLEN", k.Queue("a")), nil); n != 1 {
		t.Fatalf("a stale claim popped a job")
	}
	a = testCycleArgs(k, id, "b")
	a.claim, a.recordTail, a.card = true, `,"run_at":"D","payload":`, "2"
	do(t, c, "RPUSH", k.Queue("b"), `{"class":"X","args":[]}`)
	if v := runCycle(t, c, a); v[1].(int64) != 0 {
		t.Fatalf("claim = %v", v)
	}
}

func TestStartScript(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k := b.keys
	sk, pk := k.JobStatus("id1", "pre"), k.JobPID("id1")
	a := startArgs{statusKey: sk, pidKey: pk, head: `{"status":2,"updated":7,"started":`, tail: `,"result":null}`, splice: "1", pid: "99"}
	// Untracked: no status written, the pid key is.
	if v, err := c.Do("EVALSHA", a.evalsha()...); err != nil || v != nil {
		t.Fatalf("untracked start = %v, %v", v, err)
	}
	if n, _ := redis.Int(do(t, c, "EXISTS", sk), nil); n != 0 {
		t.Error("status key created for an untracked job")
	}
	if s, _ := redis.String(do(t, c, "GET", pk), nil); s != "99" {
		t.Errorf("pid key %q", s)
	}
	do(t, c, "SET", sk, `{"status":1,"updated":4,"started":4,"result":null}`)
	old, err := redis.String(c.Do("EVALSHA", a.evalsha()...))
	if err != nil || old != `{"status":1,"updated":4,"started":4,"result":null}` {
		t.Fatalf("start = %q, %v", old, err)
	}
	if s, _ := redis.String(do(t, c, "GET", sk), nil); s != `{"status":2,"updated":7,"started":4,"result":null}` {
		t.Errorf("status %s", s)
	}
	// php-resque 1.x: the whole packet, no pid.
	a = startArgs{statusKey: sk, pidKey: pk, head: `{"status":2,"updated":8}`, splice: "0"}
	if _, err := c.Do("EVALSHA", a.evalsha()...); err != nil {
		t.Fatal(err)
	}
	if s, _ := redis.String(do(t, c, "GET", sk), nil); s != `{"status":2,"updated":8}` {
		t.Errorf("status %s", s)
	}
}

func TestPruneScript(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "other:1:q"
	payload := `{"class":"A","args":[]}`
	rec := `{"queue":"q","run_at":"D","payload":` + payload + `}`
	sk := k.JobStatus("j", "")
	do(t, c, "SADD", k.Workers(), id)
	do(t, c, "SET", k.Worker(id), rec)
	do(t, c, "HSET", k.InFlight(), id, rec)
	do(t, c, "SET", sk, `{"status":2,"updated":1,"started":1,"result":null}`)
	keys := []any{k.Workers(), k.Worker(id), k.WorkerStarted(id), k.WorkerStat("processed", id),
		k.WorkerStat("failed", id), k.Heartbeats(), k.InFlight(), k.Failed(), k.Stat("failed"),
		k.Stat("processed"), k.Queue("q"), sk}
	// A stale SHA1: nothing happens.
	if n, err := redis.Int(pruneScript.Do(c, append(keys, id, "stale", "", payload, "", "", "0", "")...)); err != nil || n != 0 {
		t.Fatalf("prune with a stale guard = %d, %v", n, err)
	}
	n, err := redis.Int(pruneScript.Do(c, append(keys, id, sha1hex([]byte(rec)), "", payload,
		`{"status":1,"updated":2,"started":`, `,"result":null}`, "1", "")...))
	if err != nil || n != 1 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	if q, _ := redis.Strings(do(t, c, "LRANGE", k.Queue("q"), 0, -1), nil); len(q) != 1 || q[0] != payload {
		t.Errorf("requeued %v", q)
	}
	if s, _ := redis.String(do(t, c, "GET", sk), nil); s != `{"status":1,"updated":2,"started":1,"result":null}` {
		t.Errorf("status %s", s)
	}
	if n, _ := redis.Int(do(t, c, "SISMEMBER", k.Workers(), id), nil); n != 0 {
		t.Error("still registered")
	}
	if n, _ := redis.Int(do(t, c, "HEXISTS", k.InFlight(), id), nil); n != 0 {
		t.Error("in-flight record left")
	}
}

// Issue 7 item 2: two byte-identical payloads (Ruby and goworker payloads carry no id)
// claimed by the same worker in the same second had the same in-flight record, so the
// replay of "finish #1 + claim #2" after a lost reply settled #2 without running it. The
// claim token makes each record unique. (On the old code the replay's finish applied to #2:
// processed 2, nothing in flight, #2 never performed.)
func TestCycleReplayDoesNotSettleAnIdenticalJob(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:q"
	p := `{"class":"Noop","args":[]}`
	do(t, c, "RPUSH", k.Queue("q"), p, p)
	a := testCycleArgs(k, id, "q")
	a.claim, a.recordTail, a.token = true, `,"run_at":"SAME SECOND","payload":`, "tok1"
	runCycle(t, c, a)
	first := sha1hex(a.inflightRecord(0, []byte(p)))
	// Finish #1 and claim #2; the reply is "lost", and the step replayed as it was sent
	// (the worker sends a fresh token with each attempt; the replay is the worst case).
	a.fin = &outcome{statusKey: "-", pidKey: "-", sha: first, splice: "0", delPID: "0"}
	a.token = "tok2"
	runCycle(t, c, a)
	if v := runCycle(t, c, a); v[0].(int64) != 0 || v[1].(int64) != -2 {
		t.Fatalf("replay = %v, want nothing finished and the in-flight job kept (-2)", v)
	}
	if n, _ := redis.Int(do(t, c, "GET", k.Stat("processed")), nil); n != 1 {
		t.Errorf("stat:processed = %d, want 1: job #2 was settled without running", n)
	}
	if n, _ := redis.Int(do(t, c, "HEXISTS", k.InFlight(), id), nil); n != 1 {
		t.Error("job #2 is no longer in flight")
	}
}

// Issue 7 item 3: a write refused part-way through the finish (stat:processed holding
// "abc") used to abort the script after the failure record was pushed and before the guard
// was removed, so every retry pushed another failure record. Now the guard goes first and
// the refused write is reported; a replay writes nothing.
func TestCycleFinishRefusedWriteIsNotReplayed(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:q"
	do(t, c, "SET", k.Stat("processed"), "abc")
	do(t, c, "RPUSH", k.Queue("q"), `{"class":"Fail","args":[]}`)
	a := testCycleArgs(k, id, "q")
	a.claim, a.recordTail, a.token = true, `,"run_at":"D","payload":`, "t"
	runCycle(t, c, a)
	a.claim = false
	a.fin = &outcome{statusKey: "-", pidKey: "-", sha: sha1hex(a.inflightRecord(0, []byte(`{"class":"Fail","args":[]}`))),
		failure: `{"failure":1}`, splice: "0", delPID: "0"}
	v := runCycle(t, c, a)
	refused, _ := redis.Strings(v[3], nil)
	if v[0].(int64) != 1 || len(refused) != 1 || !strings.HasPrefix(refused[0], k.Stat("processed")+": ") {
		t.Fatalf("finish = %v (refused %q), want finished with stat:processed refused", v, refused)
	}
	for range 3 {
		runCycle(t, c, a)
	}
	if n, _ := redis.Int(do(t, c, "LLEN", k.Failed()), nil); n != 1 {
		t.Errorf("%d failure records, want 1", n)
	}
	if n, _ := redis.Int(do(t, c, "EXISTS", k.Worker(id)), nil); n != 0 {
		t.Error("worker:<id> left after the finish")
	}
}

// Issue 7 item 3: a queue key of the wrong type aborted the claim, so with QUEUE=bad,good
// the good queue was never worked. It is skipped and reported.
func TestCycleSkipsAQueueOfTheWrongType(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:bad,good"
	do(t, c, "SET", k.Queue("bad"), "x")
	do(t, c, "RPUSH", k.Queue("good"), `{"class":"Ok","args":[]}`)
	a := testCycleArgs(k, id, "bad", "good")
	a.claim, a.recordTail, a.token = true, `,"run_at":"D","payload":`, "t"
	v := runCycle(t, c, a)
	refused, _ := redis.Strings(v[3], nil)
	if v[1].(int64) != 1 || len(refused) != 1 || !strings.Contains(refused[0], k.Queue("bad")) || !strings.Contains(refused[0], "WRONGTYPE") {
		t.Fatalf("claim = %v (refused %q), want the good queue's job and the bad queue named", v, refused)
	}
}

// The finished job's in-flight field is replaced by the next claim's, or deleted when there
// is none; and a claim that fails after a finish (QUEUE=* with a `queues` key of the wrong
// type) deletes it first, so that a replay of the call does not record the outcome twice.
func TestCycleScriptSettlesInFlightOnEveryPath(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:q"
	do(t, c, "RPUSH", k.Queue("q"), `{"class":"A","args":[]}`, `{"class":"B","args":[]}`)
	a := testCycleArgs(k, id, "q")
	a.claim, a.recordTail = true, `,"run_at":"D","payload":`
	claim := func(token string) *outcome {
		t.Helper()
		a.token = token
		v := runCycle(t, c, a)
		rec, _ := redis.Bytes(c.Do("HGET", k.InFlight(), id))
		if v[1].(int64) != 0 || rec == nil {
			t.Fatalf("claim: reply %v, in-flight %q", v, rec)
		}
		return &outcome{sha: sha1hex(rec), splice: "0", delPID: "0", statusKey: "-", pidKey: "-"}
	}
	a.fin = claim("t1")
	a.fin = claim("t2") // finishes A, claims B: the field holds B's record
	if rec, _ := redis.String(c.Do("HGET", k.InFlight(), id)); !strings.Contains(rec, `"claim":"t2"`) {
		t.Fatalf("in-flight after the second claim: %q", rec)
	}
	// Finish B while QUEUE=* finds `queues` of the wrong type: the script fails after
	// recording the outcome; the field must be gone, so the replay changes nothing.
	do(t, c, "SET", k.Queues(), "not a set")
	a.card = "1"
	if _, err := cycleScript.Do(c, a.appendTo(nil)...); err == nil {
		t.Fatal("want the claim to fail on a `queues` key of the wrong type")
	}
	if n, _ := redis.Int(c.Do("HEXISTS", k.InFlight(), id)); n != 0 {
		t.Fatal("the finished job's in-flight field is still there after the failed claim")
	}
	a.card, a.claim = "", false
	if v := runCycle(t, c, a); v[0].(int64) != 0 {
		t.Fatalf("replay finished the job again: %v", v)
	}
	if n, _ := redis.Int(c.Do("GET", k.Stat("processed"))); n != 2 {
		t.Fatalf("stat:processed %d, want 2", n)
	}
}
