package command

import (
	"os"
	"runtime"
)

// capProcs lowers GOMAXPROCS to the number of slots when the environment does not set it,
// and returns the function that restores the previous value (command is importable, and
// its tests run workers in-process).
//
// A worker process runs at most that many jobs at once. With more Ps than jobs, the Go
// scheduler spins on the idle Ps, polling the network and waking threads, at every Redis
// round trip: measured on 2 CPUs, a 1-slot worker drained 4,600-6,000 no-op jobs/s with 2
// Ps and 7,800-8,700 with 1, and Redis spent a third less CPU per job. php-resque's usual
// deployment, COUNT=n processes of one job each, is exactly that case. A Go handler that
// parallelises its own work in a worker with few slots can set GOMAXPROCS explicitly.
func capProcs(slots int) (procs int, restore func()) {
	prev := runtime.GOMAXPROCS(0)
	if _, set := os.LookupEnv("GOMAXPROCS"); set || slots < 1 || slots >= prev {
		return prev, func() {}
	}
	runtime.GOMAXPROCS(slots)
	return slots, func() { runtime.GOMAXPROCS(prev) }
}
