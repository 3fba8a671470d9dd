package redistest

import "syscall"

// serverProcAttr: if the test binary dies (a crash, a killed pipe), its server goes with it.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
