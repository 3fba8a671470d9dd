package command

import (
	"os"
	"runtime"
	"testing"
)

// capProcs gives a worker process no more Ps than slots, and one CPU fewer than the
// machine has when Redis is on this host, unless GOMAXPROCS is set; it restores the
// previous value. Not parallel: GOMAXPROCS is the test process's.
func TestCapProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // 4 Ps whatever the machine
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	spare := max(runtime.NumCPU()-1, 1) // what a local Redis leaves the worker
	for _, tc := range []struct {
		slots int
		local bool
		want  int
	}{
		{1, false, 1}, {3, false, 3}, {4, false, 4}, {50, false, 4}, {0, false, 4},
		{1, true, 1}, {3, true, min(3, spare)}, {50, true, min(4, spare)},
	} {
		procs, restore := capProcs(tc.slots, tc.local)
		if procs != tc.want || runtime.GOMAXPROCS(0) != tc.want {
			t.Errorf("%d slots, redis local %v: %d Ps (runtime %d), want %d", tc.slots, tc.local, procs, runtime.GOMAXPROCS(0), tc.want)
		}
		restore()
		if n := runtime.GOMAXPROCS(0); n != 4 {
			t.Fatalf("%d slots: restored to %d Ps, want 4", tc.slots, n)
		}
	}
	t.Setenv("GOMAXPROCS", "4")
	if procs, restore := capProcs(1, true); procs != 4 || runtime.GOMAXPROCS(0) != 4 {
		t.Errorf("GOMAXPROCS set: %d Ps, want the environment's 4", procs)
	} else {
		restore()
	}
}

func TestOnThisHost(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		want          bool
	}{
		{"unix", "/run/redis.sock", true},
		{"tcp", "127.0.0.1:6379", true},
		{"tcp", "127.3.2.1:6379", true},
		{"tcp", "[::1]:6379", true},
		{"tcp", "localhost:6379", true},
		{"tcp", "10.0.0.5:6379", false},
		{"tcp", "redis.internal:6379", false},
		{"sentinel", "", false},
	} {
		if got := onThisHost(tc.network, tc.addr); got != tc.want {
			t.Errorf("onThisHost(%s, %s) = %v, want %v", tc.network, tc.addr, got, tc.want)
		}
	}
}
