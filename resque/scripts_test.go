package resque

import (
	"errors"
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
	a := &cycleArgs{id: id}
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
	v, err := redis.Values(cycleScript.Do(c, a.appendTo(nil)...))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 4 {
		t.Fatalf("cycle reply %v", v)
	}
	return v
}

func TestCycleScriptClaimAndFinish(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:low,high"
	a := testCycleArgs(k, id, "high", "low")
	a.claim, a.recordTail = true, `,"run_at":"D","payload":`

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
	rec := `{"queue":"high","run_at":"D","payload":{"class":"B","args":[]}}`
	for _, got := range []any{do(t, c, "GET", k.Worker(id)), do(t, c, "HGET", k.InFlight(), id)} {
		if s, _ := redis.String(got, nil); s != rec {
			t.Fatalf("in-flight record %q, want %q", s, rec)
		}
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

func TestCycleScriptWildcardStale(t *testing.T) {
	t.Parallel()
	b, c := scriptConn(t)
	k, id := b.keys, "h:1:*"
	a := testCycleArgs(k, id, "a")
	a.claim, a.recordTail, a.wildcard, a.names = true, `,"run_at":"D","payload":`, true, []string{"a"}
	do(t, c, "SADD", k.Queues(), "a", "b")
	v := runCycle(t, c, a)
	members, _ := redis.Strings(v[2], nil)
	if v[1].(int64) != -1 || len(members) != 2 {
		t.Fatalf("stale list = %v", v)
	}
	a = testCycleArgs(k, id, "a", "b")
	a.claim, a.recordTail, a.wildcard, a.names = true, `,"run_at":"D","payload":`, true, []string{"a", "b"}
	do(t, c, "RPUSH", k.Queue("b"), `{"class":"X","args":[]}`)
	if v := runCycle(t, c, a); v[1].(int64) != 1 {
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
	if v, err := startScript.Do(c, a.args()...); err != nil || v != nil {
		t.Fatalf("untracked start = %v, %v", v, err)
	}
	if n, _ := redis.Int(do(t, c, "EXISTS", sk), nil); n != 0 {
		t.Error("status key created for an untracked job")
	}
	if s, _ := redis.String(do(t, c, "GET", pk), nil); s != "99" {
		t.Errorf("pid key %q", s)
	}
	do(t, c, "SET", sk, `{"status":1,"updated":4,"started":4,"result":null}`)
	old, err := redis.String(startScript.Do(c, a.args()...))
	if err != nil || old != `{"status":1,"updated":4,"started":4,"result":null}` {
		t.Fatalf("start = %q, %v", old, err)
	}
	if s, _ := redis.String(do(t, c, "GET", sk), nil); s != `{"status":2,"updated":7,"started":4,"result":null}` {
		t.Errorf("status %s", s)
	}
	// php-resque 1.x: the whole packet, no pid.
	a = startArgs{statusKey: sk, pidKey: pk, head: `{"status":2,"updated":8}`, splice: "0"}
	if _, err := startScript.Do(c, a.args()...); err != nil {
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
