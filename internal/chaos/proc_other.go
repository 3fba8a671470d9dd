//go:build !linux

package chaos

import "syscall"

// procSupported is false: the driver reads /proc (proc.go), which only Linux has, so Run
// refuses to start rather than report processes it cannot see. The package still builds,
// for the packages that import it.
const procSupported = false

// workerProcAttr: a process group of its own; there is no Pdeathsig outside Linux.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
