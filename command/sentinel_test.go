package command

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// TestParseSentinelBackend pins sentinel:// URLs: the sentinels, the master's name, its
// credentials and database, and the errors.
func TestParseSentinelBackend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, env string
		want     target
		err      string
	}{
		{url: "sentinel://h1:26379,h2:26380/mymaster", want: target{sentinels: []string{"h1:26379", "h2:26380"}, master: "mymaster", db: -1,
			display: "sentinel://h1:26379,h2:26380/mymaster"}},
		{url: "sentinel://h1/mymaster/3", want: target{sentinels: []string{"h1:26379"}, master: "mymaster", db: 3,
			display: "sentinel://h1:26379/mymaster/3"}},
		{url: "sentinel://app:pw@h1:1,[::1]:2/m", want: target{sentinels: []string{"h1:1", "[::1]:2"}, master: "m", db: -1, username: "app", password: "pw",
			display: "sentinel://h1:1,[::1]:2/m"}},
		{url: "sentinel://secret@h1:1/m", want: target{sentinels: []string{"h1:1"}, master: "m", db: -1, password: "secret", display: "sentinel://h1:1/m"}},
		{url: "sentinel://h1:1/m", env: "5", want: target{sentinels: []string{"h1:1"}, master: "m", db: 5, display: "sentinel://h1:1/m/5"}},
		{url: "sentinel://h1:1", err: "no master name"},
		{url: "sentinel:///m", err: "no sentinel address"},
		{url: "sentinel://h1:x/m", err: `sentinel address "h1:x"`},
		{url: "sentinel://h1:1/m/x", err: `database "x"`},
	} {
		env := map[string]string{"REDIS_BACKEND": tc.url}
		if tc.env != "" {
			env["REDIS_BACKEND_DB"] = tc.env
		}
		r, err := readRedisSettings(source{env: mapEnv(env)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseBackend(r)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.url, err, tc.err)
			}
			continue
		}
		tc.want.network = "sentinel"
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if strings.Join(got.sentinels, ",") != strings.Join(tc.want.sentinels, ",") || got.master != tc.want.master || got.db != tc.want.db ||
			got.username != tc.want.username || got.password != tc.want.password || got.display != tc.want.display || got.network != "sentinel" {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.url, got, tc.want)
		}
	}
}

// TestHASettings pins the sentinel password sources and the WAIT settings.
func TestHASettings(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env   map[string]string
		check func(haSettings) bool
		err   string
	}{
		{env: map[string]string{}, check: func(h haSettings) bool {
			return h.SentinelPassword == "" && h.WaitReplicas == 0 && h.WaitTimeout == 2*time.Second
		}},
		{env: map[string]string{"REDIS_SENTINEL_PASSWORD": "env"}, check: func(h haSettings) bool { return h.SentinelPassword == "env" }},
		{env: map[string]string{"REDIS_SENTINEL_PASSWORD": "env", "REDIS_SENTINEL_PASSWORD_FILE": pwFile},
			check: func(h haSettings) bool { return h.SentinelPassword == "from-file" }},
		{env: map[string]string{"REDIS_SENTINEL_PASSWORD_FILE": pwFile + ".missing"}, err: "REDIS_SENTINEL_PASSWORD_FILE"},
		{env: map[string]string{"GORESQUE_REDIS_WAIT_REPLICAS": "1", "GORESQUE_REDIS_WAIT_TIMEOUT": "0.5"},
			check: func(h haSettings) bool { return h.WaitReplicas == 1 && h.WaitTimeout == 500*time.Millisecond }},
		{env: map[string]string{"GORESQUE_REDIS_WAIT_REPLICAS": "one"}, err: `GORESQUE_REDIS_WAIT_REPLICAS="one"`},
		{env: map[string]string{"GORESQUE_REDIS_WAIT_REPLICAS": "-1"}, err: `GORESQUE_REDIS_WAIT_REPLICAS="-1"`},
		{env: map[string]string{"GORESQUE_REDIS_WAIT_TIMEOUT": "0"}, err: `GORESQUE_REDIS_WAIT_TIMEOUT="0"`},
	} {
		r, err := readRedisSettings(source{env: mapEnv(tc.env)})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || !tc.check(r.HA) {
			t.Errorf("%v: %+v, %v", tc.env, r.HA, err)
		}
	}
}

func mapEnv(m map[string]string) lookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestCommandsThroughSentinel: `enqueue` and `queues` reach the master through
// password-protected sentinels (REDIS_SENTINEL_PASSWORD_FILE) with the master's password in
// the URL; after the master is SIGKILLed and a replica promoted, the same commands reach
// the new master, which has the job (WAIT=1 made sure of it); with no replica left an
// enqueue fails rather than risk the job. A wrong sentinel password is one clear line and
// exit 1.
func TestCommandsThroughSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis servers and sentinels")
	}
	// Not parallel: it calls Run in-process, and Run calls must not overlap (urfave/cli
	// keeps global state).
	h := redistest.StartHATB(t, redistest.HAOptions{Password: "srv", SentinelPassword: "sen"})
	pwFile := filepath.Join(t.TempDir(), "sentinel-pw")
	if err := os.WriteFile(pwFile, []byte("sen\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"REDIS_BACKEND":                "sentinel://:srv@" + strings.Join(h.SentinelAddrs(), ",") + "/" + h.Name + "/2",
		"REDIS_SENTINEL_PASSWORD_FILE": pwFile,
		"GORESQUE_REDIS_WAIT_REPLICAS": "1",
		"PREFIX":                       "ha",
	}
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code := Run(ctx, append([]string{"goresque"}, args...), &out, &errw, mapEnv(env), nil)
		return code, out.String(), errw.String()
	}
	code, id, stderr := run("enqueue", "--track", "hq", "Test_Ok", "{}")
	if code != 0 {
		t.Fatalf("enqueue through sentinel: exit %d: %s", code, stderr)
	}
	id = strings.TrimSpace(id)
	old, promoted, err := h.Failover(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %d -> %d", old.Port, promoted.Port)
	code, out, stderr := run("queues")
	if code != 0 || !strings.Contains(out, "hq") {
		t.Fatalf("queues after the failover: exit %d, %q, %s", code, out, stderr)
	}
	c, err := h.Conn(promoted)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do("SELECT", 2); err != nil {
		t.Fatal(err)
	}
	q, err := redis.Strings(c.Do("LRANGE", "ha:queue:hq", 0, -1))
	if err != nil || len(q) != 1 || !strings.Contains(q[0], id) {
		t.Fatalf("the promoted master's queue: %q, %v (job %s)", q, err, id)
	}
	// The promoted master has no replica until the old one is back: with WAIT=1 an
	// enqueue is not acknowledged, and says so.
	if code, _, stderr := run("enqueue", "hq", "Test_Ok"); code != 1 || !strings.Contains(stderr, "acknowledged by 0 of 1 replicas") {
		t.Fatalf("enqueue without a replica: exit %d: %s", code, stderr)
	}
	if err := h.Restart(old, promoted); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run("enqueue", "hq", "Test_Ok"); code != 0 {
		t.Fatalf("enqueue once the old master is back as a replica: exit %d: %s", code, stderr)
	}

	env["REDIS_SENTINEL_PASSWORD_FILE"] = ""
	env["REDIS_SENTINEL_PASSWORD"] = "wrong"
	code, _, stderr = run("queues")
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "sentinel") {
		t.Errorf("wrong sentinel password: exit %d, stderr %q", code, stderr)
	}
}

// TestWaitClosesTheReplicationGap shows the gap WAIT closes, deterministically: the replica
// stops reading (SIGSTOP) and a 32 MB write fills the socket buffers between it and the
// master, so that what the master writes next stays in the master's memory. An enqueue
// without WAIT is then acknowledged (exit 0) yet lost when the master is SIGKILLed and the
// replica promoted; with GORESQUE_REDIS_WAIT_REPLICAS=1 the same enqueue is not
// acknowledged (exit 1): whoever enqueues knows it must retry.
func TestWaitClosesTheReplicationGap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis servers and sentinels")
	}
	// Not parallel: it calls Run in-process (see TestCommandsThroughSentinel).
	h := redistest.StartHATB(t, redistest.HAOptions{DownAfter: 3 * time.Second})
	env := map[string]string{"REDIS_BACKEND": "sentinel://" + strings.Join(h.SentinelAddrs(), ",") + "/" + h.Name, "PREFIX": "gap"}
	run := func(wait string, args ...string) (int, string, string) {
		e := map[string]string{"GORESQUE_REDIS_WAIT_REPLICAS": wait, "GORESQUE_REDIS_WAIT_TIMEOUT": "0.3"}
		for k, v := range env {
			e[k] = v
		}
		var out, errw bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code := Run(ctx, append([]string{"goresque"}, args...), &out, &errw, mapEnv(e), nil)
		return code, strings.TrimSpace(out.String()), errw.String()
	}
	if code, _, stderr := run("1", "enqueue", "q", "Before", "{}"); code != 0 {
		t.Fatalf("enqueue with WAIT=1 before the fault: exit %d: %s", code, stderr)
	}
	master, replica := h.Servers[0], h.Servers[1]
	if err := replica.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			replica.Signal(syscall.SIGCONT)
		}
	}()
	mc, err := h.Conn(master)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.Do("SET", "gap:junk", strings.Repeat("x", 32<<20)); err != nil {
		t.Fatal(err)
	}
	mc.Close()
	code, lostID, stderr := run("0", "enqueue", "q", "NoWait", "{}")
	if code != 0 {
		t.Fatalf("enqueue without WAIT: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run("1", "enqueue", "q", "Wait", "{}"); code != 1 || !strings.Contains(stderr, "acknowledged by 0 of 1 replicas") {
		t.Fatalf("enqueue with WAIT=1 while the replica lags: exit %d: %s", code, stderr)
	}
	master.Kill()
	if err := replica.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := h.Master()
		if err == nil && m == replica {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica was not promoted: %v\n%s", err, h.Sentinels[0].Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rc, err := h.Conn(replica)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	q, err := redis.Strings(rc.Do("LRANGE", "gap:queue:q", 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || !strings.Contains(q[0], `"Before"`) {
		t.Fatalf("the promoted master's queue: %q, want only the job enqueued before the fault", q)
	}
	t.Logf("acknowledged without WAIT and lost in the failover: job %s", lostID)
}
