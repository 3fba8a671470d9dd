//go:build !linux

package redistest

import "syscall"

// serverProcAttr: there is no Pdeathsig outside Linux; a test binary that crashes leaves
// its redis-server running (on its private socket, until it is killed by hand).
func serverProcAttr() *syscall.SysProcAttr { return nil }
