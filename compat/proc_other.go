//go:build unix && !linux

package compat

import "syscall"

// procAttr puts a php process in its own process group, so that a timeout or a kill ends
// the job and whatever it started. Outside Linux there is no parent-death signal: a php
// process outlives a worker killed with SIGKILL (a worker that stops normally stops it), as
// php-resque's children outlive theirs.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// canMeasureMemory says whether rss works: MaxMemory reads Linux's /proc.
const canMeasureMemory = false

func rss(int) int64 { return 0 }
