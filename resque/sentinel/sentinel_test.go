package sentinel_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque/sentinel"
	"github.com/rs/zerolog"
)

// syncBuffer is a log sink safe for the watcher goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newDialer(t *testing.T, h *redistest.HA, pass, sentinelPass string, log *syncBuffer) *sentinel.Dialer {
	t.Helper()
	cfg := sentinel.Config{Sentinels: h.SentinelAddrs(), Master: h.Name, ResolveTimeout: 5 * time.Second}
	if pass != "" {
		cfg.MasterOptions = append(cfg.MasterOptions, redis.DialPassword(pass))
	}
	if sentinelPass != "" {
		cfg.SentinelOptions = append(cfg.SentinelOptions, redis.DialPassword(sentinelPass))
	}
	if log != nil {
		cfg.Logger = zerolog.New(log)
	}
	d, err := sentinel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func poolOf(d *sentinel.Dialer) *redis.Pool {
	return &redis.Pool{
		MaxIdle:     4,
		DialContext: d.DialContext,
		TestOnBorrowContext: func(_ context.Context, c redis.Conn, _ time.Time) error {
			return c.Err()
		},
	}
}

// TestResolve: the dialer finds the master through the sentinels and skips a sentinel that
// is down (the first in the list).
func TestResolve(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{})
	h.Sentinels[0].Stop()
	d := newDialer(t, h, "", "", nil)
	c, err := d.DialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do("SET", "k", "v"); err != nil {
		t.Fatalf("write to the resolved master: %v", err)
	}
	want := fmt.Sprintf("127.0.0.1:%d", h.Servers[0].Port)
	if got := d.Master(); got != want {
		t.Errorf("master %s, want %s", got, want)
	}
}

// TestUnknownMaster: a master name no sentinel monitors is a clear error.
func TestUnknownMaster(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{Replicas: 1, Sentinels: 1})
	d, err := sentinel.New(sentinel.Config{Sentinels: h.SentinelAddrs(), Master: "nope", ResolveTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.DialContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), `does not monitor a master named "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestAuth: the sentinels' own password and the servers' password are separate settings;
// without the sentinels' password no master is resolved.
func TestAuth(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{Password: "srv-secret", SentinelPassword: "sen-secret"})
	d := newDialer(t, h, "srv-secret", "sen-secret", nil)
	c, err := d.DialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do("SET", "k", "v"); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.Close()

	bad, err := sentinel.New(sentinel.Config{Sentinels: h.SentinelAddrs(), Master: h.Name, ResolveTimeout: 200 * time.Millisecond,
		MasterOptions: []redis.DialOption{redis.DialPassword("srv-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.DialContext(context.Background()); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("without the sentinel password: err = %v, want NOAUTH", err)
	}
}

// TestFailoverFollowed: the master is SIGKILLed, a replica promoted; a pooled connection
// breaks, the pool redials through the sentinels and writes reach the new master, which
// holds the data written (and replicated) before. The failover is logged once.
func TestFailoverFollowed(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{})
	log := &syncBuffer{}
	d := newDialer(t, h, "", "", log)
	pool := poolOf(d)
	defer pool.Close()
	do := func(cmd string, args ...any) (any, error) {
		c := pool.Get()
		defer c.Close()
		return c.Do(cmd, args...)
	}
	if _, err := do("SET", "before", "1"); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitSynced(h.Servers[0], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	old, promoted, err := h.Failover(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The idle pooled connection to the old master is broken: the first command may fail
	// (as with any lost connection); the next ones go to the new master.
	var last error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, last = do("SET", "after", "1"); last == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("no write after the failover: %v", last)
	}
	if got := d.Master(); got != fmt.Sprintf("127.0.0.1:%d", promoted.Port) {
		t.Errorf("dialer's master %s, want the promoted %d (old %d)", got, promoted.Port, old.Port)
	}
	if v, err := redis.String(do("GET", "before")); err != nil || v != "1" {
		t.Errorf("GET before on the new master = %q, %v", v, err)
	}
	// Both the +switch-master notice and the redial see the move: one line.
	time.Sleep(200 * time.Millisecond)
	if n := strings.Count(log.String(), "redis failover"); n != 1 {
		t.Errorf("%d failover log lines, want 1:\n%s", n, log.String())
	}
}

// TestReadOnlyBreaksConn: a connection whose server has become a replica (demoted without
// losing its connections, as after SENTINEL FAILOVER or a partition) answers READONLY, to a
// command, inside a script, or inside a pipeline's reply; each makes the connection broken,
// so that the pool drops it and redials through the sentinels.
func TestReadOnlyBreaksConn(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{})
	d := newDialer(t, h, "", "", nil)
	pool := poolOf(d)
	defer pool.Close()
	ops := map[string]func(redis.Conn) error{
		"command": func(c redis.Conn) error { _, err := c.Do("SET", "k", "2"); return err },
		"script": func(c redis.Conn) error {
			_, err := c.Do("EVAL", "return redis.call('SET', KEYS[1], 'x')", 1, "k")
			return err
		},
		"pipeline": func(c redis.Conn) error {
			c.Send("GET", "k")
			c.Send("SET", "k", "y")
			vs, err := redis.Values(c.Do(""))
			if err == nil && len(vs) == 2 {
				if e, ok := vs[1].(redis.Error); ok {
					return e
				}
			}
			return err
		},
	}
	conns := map[string]redis.Conn{}
	for name := range ops {
		conns[name] = pool.Get()
		if _, err := conns[name].Do("SET", "k", "1"); err != nil {
			t.Fatal(err)
		}
	}
	// Demote the master in place, behind the dialer's back, as a replica of an address
	// where nothing listens: no sync starts, so no LOADING reply can come instead of
	// READONLY.
	rc, err := h.Conn(h.Servers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	nowhere, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Do("REPLICAOF", "127.0.0.1", nowhere); err != nil {
		t.Fatal(err)
	}
	for name, op := range ops {
		c := conns[name]
		if err := op(c); err == nil || !strings.Contains(err.Error(), "READONLY") {
			t.Errorf("%s on the demoted master: %v, want READONLY", name, err)
		}
		if err := c.Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
			t.Errorf("%s: a connection that got READONLY is not broken (Err %v): the pool would keep it", name, err)
		}
		c.Close()
	}
	if got := pool.IdleCount(); got != 0 {
		t.Errorf("READONLY connections went back to the pool (%d idle)", got)
	}
}

// TestSwitchMasterNotice: a manual failover (SENTINEL FAILOVER) demotes a master that stays
// up, so no connection breaks and reads would go on silently against a replica; the
// +switch-master notice alone must move the dialer (no command is sent meanwhile), and the
// idle pooled connection to the old master must not be handed out again.
func TestSwitchMasterNotice(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{})
	log := &syncBuffer{}
	d := newDialer(t, h, "", "", log)
	pool := poolOf(d)
	defer pool.Close()
	c := pool.Get()
	if _, err := c.Do("SET", "k", "1"); err != nil {
		t.Fatal(err)
	}
	c.Close() // idle in the pool
	old := d.Master()
	if _, err := h.Sentinels[1].Do("", "SENTINEL", "FAILOVER", h.Name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.Master() == old && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d.Master() == old {
		t.Fatalf("the dialer still follows %s after SENTINEL FAILOVER", old)
	}
	if !strings.Contains(log.String(), "+switch-master") {
		t.Errorf("the move was not seen through +switch-master:\n%s", log.String())
	}
	c = pool.Get()
	defer c.Close()
	role, err := redis.Values(c.Do("ROLE"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := redis.String(role[0], nil); r != "master" {
		t.Errorf("the pool handed out a connection to a %s", r)
	}
}
