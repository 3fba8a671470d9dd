package sentinel_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque/sentinel"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// watchers counts the goroutines following +switch-master.
func watchers() int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), "sentinel.(*Dialer).watch(")
}

// TestWatcherStopsWithPool: the +switch-master watcher runs while connections are open and
// stops when the pool is closed, without Dialer.Close (the CLI's commands only close
// their pool). Not parallel: it counts the process's watcher goroutines.
func TestWatcherStopsWithPool(t *testing.T) {
	// An earlier test's watcher may still be on its way out (it stops asynchronously once
	// its pool is closed): count from zero.
	waitWatchers(t, 0)
	h := redistest.StartHATB(t, redistest.HAOptions{Sentinels: 1})
	d, err := sentinel.New(sentinel.Config{Sentinels: h.SentinelAddrs(), Master: h.Name})
	if err != nil {
		t.Fatal(err)
	}
	pool := poolOf(d)
	c, err := pool.GetContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do("PING"); err != nil {
		t.Fatal(err)
	}
	if n := watchers(); n != 1 {
		t.Errorf("%d watchers with a connection open, want 1", n)
	}
	c.Close() // idle in the pool: still open
	if n := watchers(); n != 1 {
		t.Errorf("%d watchers with an idle connection, want 1", n)
	}
	pool.Close()
	if n := waitWatchers(t, 0); n != 0 {
		t.Errorf("%d watchers after the pool was closed, want 0", n)
	}
}

// waitWatchers waits up to 3 s for the number of watcher goroutines to be want and
// returns the last count.
func waitWatchers(t *testing.T, want int) int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for watchers() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return watchers()
}
