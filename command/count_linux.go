package command

import "syscall"

// countChildAttr: if the COUNT parent dies, its workers get SIGQUIT, finish their jobs and
// stop (Linux's parent-death signal).
func countChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
}
