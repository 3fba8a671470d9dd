package compat

import (
	"testing"
	"time"
)

// Stats counts the live warm processes, sums their RSS, and counts recycling by reason.
func TestPoolStats(t *testing.T) {
	t.Parallel()
	p := newPHP(t, model{"pool-none", ModePool, IsolationNone}, func(c *Config) {
		c.MaxJobs = 2
		c.IdleTimeout = time.Second
	})
	want := func(reason string, n uint64) {
		t.Helper()
		if got := p.Stats().Restarts; got[reason] != n || len(got) != len(restartReasons) {
			t.Fatalf("restarts %v, want %s=%d and every reason present", got, reason, n)
		}
	}
	waitProcs := func(n int) PoolStats {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			s := p.Stats()
			if s.Processes == n {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("stats %+v, want %d warm processes", s, n)
			}
		}
	}
	if s := p.Stats(); s.Processes != 0 || s.RSSBytes != 0 {
		t.Fatalf("before any job (the Check process is not warm): %+v", s)
	}
	if err := perform(t, p, job(t, "Php_Succeed", `{"name":"a"}`)); err != nil {
		t.Fatal(err)
	}
	s := waitProcs(1)
	if canMeasureMemory && s.RSSBytes < 1<<20 {
		t.Fatalf("one warm php process: RSS %d bytes, want at least 1 MB", s.RSSBytes)
	}
	want(RestartJobs, 0)
	if err := perform(t, p, job(t, "Php_Succeed", `{"name":"b"}`)); err != nil {
		t.Fatal(err)
	}
	want(RestartJobs, 1) // MaxJobs=2
	waitProcs(0)
	if err := perform(t, p, job(t, "Php_Fatal", `{}`)); err == nil {
		t.Fatal("Php_Fatal succeeded")
	}
	want(RestartCrash, 1)
	want(RestartJobs, 1)
	if err := perform(t, p, job(t, "Php_Succeed", `{"name":"c"}`)); err != nil {
		t.Fatal(err)
	}
	waitProcs(1)
	waitProcs(0) // IdleTimeout
	want(RestartIdle, 1)
	want(RestartMemory, 0)
	want(RestartTTL, 0)
}
