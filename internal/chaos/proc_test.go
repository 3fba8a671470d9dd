package chaos

import (
	"os"
	"syscall"
	"testing"
)

func TestParseStat(t *testing.T) {
	// comm holds spaces and parentheses; the fields after it are counted from the last ')'.
	line := "4242 (php (worker) 1) S 17 4240 4240 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3\n"
	pi, ok := parseStat(4242, []byte(line))
	want := pinfo{pid: 4242, ppid: 17, pgid: 4240, state: 'S', start: 987654, comm: "php (worker) 1"}
	if !ok || pi != want {
		t.Errorf("parseStat = %+v, %v; want %+v", pi, ok, want)
	}
	if !pi.php() || !pi.live() {
		t.Errorf("php() = %v, live() = %v", pi.php(), pi.live())
	}
	for _, bad := range []string{"", "4242 php S 17 4240", "4242 (x) S 17 4240 4240", "4242 (x) S x 4240 4240 0 -1 0 1 0 0 0 0 0 0 0 20 0 1 0 9"} {
		if _, ok := parseStat(4242, []byte(bad)); ok {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
	if z, _ := parseStat(1, []byte("1 (z) Z 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5")); z.live() {
		t.Errorf("a zombie is live")
	}
}

func TestReadStatSelf(t *testing.T) {
	pi, ok := readStat(os.Getpid())
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot read /proc/%d/stat", os.Getpid())
		}
		t.Skip("no /proc on this system: the chaos driver runs on Linux only")
	}
	if pi.pid != os.Getpid() || pi.ppid != os.Getppid() || pi.pgid != syscall.Getpgrp() || !pi.live() || pi.start == 0 {
		t.Errorf("readStat(self) = %+v; want ppid %d pgid %d", pi, os.Getppid(), syscall.Getpgrp())
	}
	if got := pgidOf(os.Getpid()); got != syscall.Getpgrp() {
		t.Errorf("pgidOf(self) = %d, want %d", got, syscall.Getpgrp())
	}
	if !alive(pi.key()) || alive(procKey{pi.pid, pi.start + 1}) {
		t.Errorf("alive: self not alive, or a reused pid taken for self")
	}
}
