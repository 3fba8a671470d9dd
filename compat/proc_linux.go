package compat

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procAttr puts a php process in its own process group, so that a timeout or a kill ends
// the job and whatever it started; and makes it die with the worker (a worker killed with
// SIGKILL cannot stop it), so no orphaned PHP process goes on with a job the next worker
// records as a dirty exit. A child forked for a job (IsolationFork) asks for the same itself
// (runner.php's dieWithParent, through PHP's FFI where it is available).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// canMeasureMemory says whether rss works, for MaxMemory.
const canMeasureMemory = true

// rss is a process's resident size in bytes (0 when unknown).
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
