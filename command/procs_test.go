package command

import (
	"os"
	"runtime"
	"testing"
)

// capProcs gives a worker process no more Ps than slots unless GOMAXPROCS is set, and
// restores the previous value. Not parallel: GOMAXPROCS is the test process's.
func TestCapProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // 4 Ps whatever the machine
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	for _, tc := range []struct{ slots, want int }{{1, 1}, {3, 3}, {4, 4}, {50, 4}, {0, 4}} {
		procs, restore := capProcs(tc.slots)
		if procs != tc.want || runtime.GOMAXPROCS(0) != tc.want {
			t.Errorf("%d slots: %d Ps (runtime %d), want %d", tc.slots, procs, runtime.GOMAXPROCS(0), tc.want)
		}
		restore()
		if n := runtime.GOMAXPROCS(0); n != 4 {
			t.Fatalf("%d slots: restored to %d Ps, want 4", tc.slots, n)
		}
	}
	t.Setenv("GOMAXPROCS", "4")
	if procs, restore := capProcs(1); procs != 4 || runtime.GOMAXPROCS(0) != 4 {
		t.Errorf("GOMAXPROCS set: %d Ps, want the environment's 4", procs)
	} else {
		restore()
	}
}
