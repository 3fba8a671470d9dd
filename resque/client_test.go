package resque

import (
	"context"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// Issue 7 item 1: redigo reports the error of each pipelined command inside the reply
// slice, and Enqueue ignored them: it returned an id for a job Redis had refused, and left
// a "waiting" status forever. Each case below returned an id and no error before the fix.
func TestEnqueueRefusedWrites(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		args  []string // a private server's arguments; none: the shared one
		setup func(b *testBundle)
		want  string
	}{
		{name: "wrongtype", want: "WRONGTYPE", setup: func(b *testBundle) {
			if _, err := b.conn.Do("SET", b.keys.Queue("wt"), "x"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "readonly-replica", want: "READONLY", args: []string{"--replicaof", "127.0.0.1", "1", "--replica-read-only", "yes"}},
		{name: "oom", want: "OOM", args: []string{"--maxmemory", "1", "--maxmemory-policy", "noeviction"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tc.args != nil {
				srv := redistest.StartTB(t, redistest.Options{Args: tc.args})
				pool := srv.Pool()
				t.Cleanup(func() { pool.Close() })
				conn := pool.Get()
				t.Cleanup(func() { conn.Close() })
				b.srv, b.pool, b.conn = srv, pool, conn
				b.client = NewClient(pool, ClientConfig{Namespace: b.ns, Dialect: DialectPHPResque136})
			}
			if tc.setup != nil {
				tc.setup(b)
			}
			for range 3 {
				id, err := b.client.Enqueue(context.Background(), "wt", "Noop", map[string]any{"n": 1}, EnqueueOptions{Track: true})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Enqueue = %q, %v; want an error naming %s", id, err, tc.want)
				}
				if id != "" {
					t.Errorf("Enqueue returned id %q with its error", id)
				}
			}
			for _, k := range redistest.Keys(t, b.conn, b.ns) {
				if strings.Contains(k, ":job:") {
					t.Errorf("status key left for a job that was not queued: %s", k)
				}
			}
			if typ, _ := redis.String(b.conn.Do("TYPE", b.keys.Queue("wt"))); typ == "list" {
				t.Errorf("something was queued")
			}
		})
	}
}
