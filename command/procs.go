package command

import (
	"net"
	"os"
	"runtime"
)

// capProcs sets GOMAXPROCS for a worker process with slots slots when the environment does
// not set it, and returns the value and the function that restores the previous one
// (command is importable, and its tests run workers in-process).
//
// A worker process runs at most slots jobs at once: more Ps than that only let the Go
// scheduler spin on the idle ones, polling the network and waking threads, at every Redis
// round trip. And when Redis runs on this host (redisLocal), one CPU is Redis's: a
// single-threaded server whose every µs is the fleet's ceiling, and the spinning Ps took it
// from Redis. Measured with scripts/bench on 2 CPUs, Redis on loopback, no-op jobs: 1 slot
// 4,971 -> 10,736 and 6,084 -> 8,902 jobs/s (2 Ps -> 1; the previous build against this
// one, two runs); 8 slots 12,485 -> 15,850 and 50 slots 19,264 -> 23,865 (2 Ps -> 1,
// leaving Redis its CPU; one run), with less worker and Redis CPU per job.
// php-resque's usual deployment, COUNT=n processes of one job each, is the first case. A Go
// handler that parallelises CPU-heavy work sets GOMAXPROCS.
func capProcs(slots int, redisLocal bool) (procs int, restore func()) {
	prev := runtime.GOMAXPROCS(0)
	if _, set := os.LookupEnv("GOMAXPROCS"); set || slots < 1 {
		return prev, func() {}
	}
	want := min(slots, prev)
	if redisLocal && runtime.NumCPU() > 1 {
		want = min(want, runtime.NumCPU()-1)
	}
	if want == prev {
		return prev, func() {}
	}
	runtime.GOMAXPROCS(want)
	return want, func() { runtime.GOMAXPROCS(prev) }
}

// onThisHost reports whether a Redis address (network "tcp" or "unix", from parseBackend)
// is served on this machine: a unix socket, "localhost" or a loopback IP. Names are not
// resolved; Sentinel (whose master may be anywhere) is not local.
func onThisHost(network, addr string) bool {
	switch network {
	case "unix":
		return true
	case "tcp":
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return false
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
