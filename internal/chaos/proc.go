package chaos

// The /proc reader: the processes of a run (found by the token in their environment),
// their state, parent, process group and start time, from /proc/<pid>/stat.

import (
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pinfo is what /proc/<pid>/stat says of a process.
type pinfo struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks after boot: with the pid, it names a process for good
	comm            string
}

// php reports whether the process is a php interpreter (comm "php", "php8.2", ...).
func (pi pinfo) php() bool { return strings.HasPrefix(pi.comm, "php") }

// key names the process even after its pid is reused (pid_max may be 32768).
func (pi pinfo) key() procKey { return procKey{pi.pid, pi.start} }

type procKey struct {
	pid   int
	start uint64
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (pinfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return pinfo{}, false
	}
	return parseStat(pid, b)
}

// parseStat parses a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line:
// "pid (comm) state ppid pgrp session tty tpgid flags ... starttime (22nd field)". comm
// may hold spaces and parentheses, so it runs from the first '(' to the last ')'. This is
// the run's only parser of that format.
func parseStat(pid int, b []byte) (pinfo, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return pinfo{}, false
	}
	f := strings.Fields(string(b[end+1:])) // state ppid pgrp session tty tpgid flags ... starttime (20th)
	if len(f) < 20 {
		return pinfo{}, false
	}
	pi := pinfo{pid: pid, state: f[0][0], comm: string(b[open+1 : end])}
	var e1, e2, e3 error
	pi.ppid, e1 = strconv.Atoi(f[1])
	pi.pgid, e2 = strconv.Atoi(f[2])
	pi.start, e3 = strconv.ParseUint(f[19], 10, 64)
	return pi, e1 == nil && e2 == nil && e3 == nil
}

// live reports whether the process is running (not a zombie, not dead).
func (pi pinfo) live() bool { return pi.state != 'Z' && pi.state != 'X' }

// snapshot returns the live (not zombie) processes of this run, by pid.
func (d *driver) snapshot() map[int]pinfo {
	out := map[int]pinfo{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		pi, ok := readStat(pid)
		if !ok || !pi.live() || !d.ours(pid) {
			continue
		}
		out[pid] = pi
	}
	return out
}

// alive reports whether the process k is still running.
func alive(k procKey) bool {
	pi, ok := readStat(k.pid)
	return ok && pi.start == k.start && pi.live()
}

// stopped reports whether every thread of pid is stopped. SIGSTOP takes effect thread by
// thread: the other threads of a Go worker were seen to run on for up to a few
// milliseconds after kill(2) returned, long enough to record a job's outcome and claim
// the next. With blocked, a thread blocked in the kernel (state D) counts as stopped: it
// runs no code of its own before the pending SIGSTOP stops it. That is how a Go worker's
// thread waits in clone(CLONE_VFORK) for the php process it starts to exec, which never
// happens when that process is stopped too (killTree).
func stopped(pid int, blocked bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/stat")
		if err != nil {
			continue // the thread exited
		}
		tid, _ := strconv.Atoi(t.Name())
		pi, ok := parseStat(tid, b)
		if !ok {
			return false
		}
		switch pi.state {
		case 'T', 't', 'Z', 'X':
		case 'D':
			if !blocked {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// waitStopped waits (at most 1s) until every thread of pid, sent SIGSTOP, is stopped.
func waitStopped(pid int) {
	for deadline := time.Now().Add(time.Second); !stopped(pid, false) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Microsecond)
	}
}

// pgidOf returns the process group of a live (not zombie) pid, or -1.
func pgidOf(pid int) int {
	pi, ok := readStat(pid)
	if !ok || !pi.live() {
		return -1
	}
	return pi.pgid
}

// ours reports whether pid is a live (not zombie) process of this run: its environment
// carries the run's token.
func (d *driver) ours(pid int) bool {
	if pgidOf(pid) == -1 {
		return false
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return err == nil && bytes.Contains(append([]byte{0}, env...), []byte("\x00"+EnvRunToken+"="+d.token+"\x00"))
}

// groupPIDs returns the live processes of this run in process group pgid, sorted.
func (d *driver) groupPIDs(pgid int) []int {
	return d.scan(func(pid int) bool { return pgidOf(pid) == pgid })
}

// ourPIDs returns every live process of this run, sorted.
func (d *driver) ourPIDs() []int {
	return d.scan(func(int) bool { return true })
}

func (d *driver) scan(match func(pid int) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if match(pid) && d.ours(pid) {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}
