package compat

import "sync/atomic"

// Reasons a warm process was recycled, the labels of PoolStats.Restarts. The pool starts
// processes lazily, so a "restart" is a warm process ended for one of these reasons; the
// next PHP job starts its successor. A process stopped because the pool was full or the
// bridge closed is not counted.
const (
	RestartJobs   = "jobs"   // MaxJobs reached (php-resque's fork-per-job has no such limit)
	RestartMemory = "memory" // RSS above MaxMemory after a job
	RestartTTL    = "ttl"    // older than TTL after a job
	RestartCrash  = "crash"  // the process died: a fatal error, exit(), a kill for a timeout
	RestartIdle   = "idle"   // idle for IdleTimeout
)

// restartReasons fixes the order of the counters below.
var restartReasons = [...]string{RestartJobs, RestartMemory, RestartTTL, RestartCrash, RestartIdle}

type restartCounters [len(restartReasons)]atomic.Uint64

func (c *restartCounters) add(reason string) {
	for i, r := range restartReasons {
		if r == reason {
			c[i].Add(1)
			return
		}
	}
}

// PoolStats is a snapshot of the warm pool (ModePool), for metrics.
type PoolStats struct {
	// Processes is the number of warm php processes alive now, busy or idle.
	Processes int
	// Restarts counts the warm processes recycled since New, by reason (Restart*); every
	// reason is present, zero included, so that a counter exists before its first increase.
	Restarts map[string]uint64
	// RSSBytes is the resident size of the warm processes summed, read now from Linux's
	// /proc (0 elsewhere). A forked child running a job is not included.
	RSSBytes int64
}

// Stats returns the pool's numbers; it is safe to call at any time, from any goroutine
// (a Prometheus scrape). It reads /proc once per warm process and nothing else.
func (p *PHP) Stats() PoolStats {
	s := PoolStats{Restarts: make(map[string]uint64, len(restartReasons))}
	for i, r := range restartReasons {
		s.Restarts[r] = p.restarts[i].Load()
	}
	var pids []int
	p.mu.Lock()
	for pr := range p.live {
		if pr.mode == runPool {
			pids = append(pids, pr.cmd.Process.Pid)
		}
	}
	p.mu.Unlock()
	s.Processes = len(pids)
	for _, pid := range pids {
		s.RSSBytes += rss(pid)
	}
	return s
}
