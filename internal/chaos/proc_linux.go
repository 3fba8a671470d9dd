package chaos

import "syscall"

// procSupported: the driver finds the run's processes, their groups and states in /proc.
const procSupported = true

// workerProcAttr puts a worker program in a process group of its own (KillGroup) and kills
// it when the driver dies (Pdeathsig), so no worker outlives a crashed run.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
