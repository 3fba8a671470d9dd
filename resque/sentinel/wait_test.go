package sentinel_test

import (
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque/sentinel"
)

// waitCalls reads how many WAIT commands the server has run.
func waitCalls(t *testing.T, c redis.Conn) int {
	t.Helper()
	info, err := redis.String(c.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_wait:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestWaitReplicas: writes (a command, a script, a flushed pipeline, EXEC) are followed by
// one WAIT each, reads by none; with more replicas asked for than exist, the write returns
// a NotReplicatedError and the connection is broken.
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	h := redistest.StartHATB(t, redistest.HAOptions{Replicas: 1, Sentinels: 1})
	admin, err := h.Conn(h.Servers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	raw, err := h.Conn(h.Servers[0])
	if err != nil {
		t.Fatal(err)
	}
	c := sentinel.WaitReplicas(raw, 1, 2*time.Second)
	defer c.Close()

	steps := []struct {
		name  string
		do    func() error
		waits int
	}{
		{"read", func() error { _, err := c.Do("GET", "k"); return err }, 0},
		{"write", func() error { _, err := c.Do("SET", "k", "v"); return err }, 1},
		{"script", func() error { _, err := c.Do("EVAL", "return redis.call('INCR', KEYS[1])", 1, "n"); return err }, 1},
		{"pipeline", func() error {
			c.Send("RPUSH", "q", "a")
			c.Send("SADD", "s", "q")
			_, err := c.Do("")
			return err
		}, 1},
		{"read pipeline", func() error {
			c.Send("LLEN", "q")
			_, err := c.Do("")
			return err
		}, 0},
		{"transaction", func() error {
			c.Send("MULTI")
			c.Send("INCR", "n")
			_, err := c.Do("EXEC")
			return err
		}, 1},
	}
	for _, s := range steps {
		before := waitCalls(t, admin)
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := waitCalls(t, admin) - before; got != s.waits {
			t.Errorf("%s: %d WAITs, want %d", s.name, got, s.waits)
		}
	}
	if v, err := redis.Int(admin.Do("GET", "n")); err != nil || v != 2 {
		t.Errorf("n = %d, %v", v, err)
	}

	raw2, err := h.Conn(h.Servers[0])
	if err != nil {
		t.Fatal(err)
	}
	short := sentinel.WaitReplicas(raw2, 2, 100*time.Millisecond)
	defer short.Close()
	_, err = short.Do("SET", "k", "w")
	var nr *sentinel.NotReplicatedError
	if !errors.As(err, &nr) || nr.Want != 2 || nr.Got != 1 {
		t.Fatalf("WAIT 2 with one replica: %v", err)
	}
	if short.Err() == nil {
		t.Error("the connection is not broken after a write that was not replicated")
	}
	if _, err := short.Do("GET", "k"); err == nil {
		t.Error("a broken connection kept working")
	}
}
