// Package measure reads what the benchmarks under scripts/ report, from outside the
// measured system as an operator would: a process tree's CPU and resident memory from
// /proc, and Redis's own CPU and command counts from INFO. Nothing here needs the
// measured program's cooperation, so goresque, php-resque and any other worker are
// measured the same way.
package measure

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Proc is one process of a tree, read from /proc/<pid>/stat.
type Proc struct {
	PID, PPID, PGrp int
	// CPU is the process's user and system time plus that of its reaped children
	// (utime+stime+cutime+cstime): a php-resque child forked per job counts in its parent
	// once it is reaped.
	CPU time.Duration
	RSS int64 // resident bytes
}

// clockTick is one USER_HZ tick: /proc reports times in them, and USER_HZ is 100 on Linux.
const clockTick = 10 * time.Millisecond

// Tree returns the processes of root's process group and all descendants of root (a
// worker that starts its own process group for a child still counts it).
func Tree(root int) []Proc {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	all := make(map[int]Proc, len(dirs))
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // exited meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 {
			continue
		}
		n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		// Fields after the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
		// cutime(13) cstime(14) ... rss(21) in pages.
		all[pid] = Proc{
			PID: pid, PPID: int(n(1)), PGrp: int(n(2)),
			CPU: time.Duration(n(11)+n(12)+n(13)+n(14)) * clockTick,
			RSS: n(21) * int64(os.Getpagesize()),
		}
	}
	in := map[int]bool{root: true}
	for changed := true; changed; {
		changed = false
		for pid, p := range all {
			if !in[pid] && (in[p.PPID] || p.PGrp == root) {
				in[pid] = true
				changed = true
			}
		}
	}
	var out []Proc
	for pid := range in {
		if p, ok := all[pid]; ok {
			out = append(out, p)
		}
	}
	return out
}

// Sum returns the tree's total CPU and resident bytes.
func Sum(procs []Proc) (cpu time.Duration, rss int64) {
	for _, p := range procs {
		cpu += p.CPU
		rss += p.RSS
	}
	return cpu, rss
}

// Resident returns the resident bytes of the processes pids (from /proc/<pid>/statm; a
// process that has exited counts 0). It reads one file per process, where Tree reads every
// process's: a sampler that calls Tree every 20 ms spends a quarter to a third of a core on
// it on a 2-core VM (5-7 ms per scan of 65 processes, BenchmarkTree), CPU that the
// measured worker and Redis share.
func Resident(pids []int) int64 {
	var rss int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			rss += n * int64(os.Getpagesize())
		}
	}
	return rss
}

// LoadAvg returns /proc/loadavg's first three fields, e.g. "1.20 0.80 0.50": the benchmarks
// print it because this machine's cores are shared.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
