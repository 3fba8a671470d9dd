package compat

import (
	"context"
	"syscall"
	"time"
)

// The warm pool (ModePool) is lazy: no php process runs until the first PHP job, at most
// PoolSize run at once (Perform waits for a turn), and a process idle for IdleTimeout
// exits. So a worker with 50 slots whose jobs all have Go handlers runs no php, and one
// whose PHP jobs are rare gives their memory back between bursts.

// acquire returns a warm process: the one idle most recently (so that the others age and
// exit), or a new one.
func (p *PHP) acquire(ctx context.Context) (*proc, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return p.start(ctx, runPool)
		}
		pr := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		select {
		case <-pr.done:
			p.restarts.add(RestartCrash)
			p.forget(pr) // died while idle
		default:
			return pr, nil
		}
	}
}

// release returns a warm process to the pool, or stops it when it must be recycled.
func (p *PHP) release(pr *proc) {
	select {
	case <-pr.done:
		p.restarts.add(RestartCrash)
		p.forget(pr)
		return
	default:
	}
	reason := ""
	switch {
	case p.cfg.MaxJobs > 0 && pr.jobs >= p.cfg.MaxJobs:
		reason = "max jobs reached"
		p.restarts.add(RestartJobs)
	case p.cfg.TTL > 0 && time.Since(pr.started) >= p.cfg.TTL:
		reason = "time to live reached"
		p.restarts.add(RestartTTL)
	case p.cfg.MaxMemory > 0 && rss(pr.cmd.Process.Pid) > p.cfg.MaxMemory:
		reason = "memory limit reached"
		p.restarts.add(RestartMemory)
	}
	if reason == "" {
		p.mu.Lock()
		switch {
		case p.closed:
			reason = "closing"
		case len(p.idle) >= p.cfg.PoolSize:
			reason = "pool full"
		default:
			pr.idleSince = time.Now()
			p.idle = append(p.idle, pr)
			if !p.reaping {
				p.reaping = true
				go p.reap()
			}
		}
		p.mu.Unlock()
		if reason == "" {
			return
		}
	}
	p.log.Debug().Int("php_pid", pr.cmd.Process.Pid).Int("jobs", pr.jobs).Msg("recycling PHP process: " + reason)
	go p.stop(pr)
}

// reap stops warm processes idle for IdleTimeout, until Close.
func (p *PHP) reap() {
	tick := time.NewTicker(p.cfg.IdleTimeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
		var old []*proc
		p.mu.Lock()
		keep := p.idle[:0]
		for _, pr := range p.idle { // oldest first
			if time.Since(pr.idleSince) >= p.cfg.IdleTimeout {
				old = append(old, pr)
			} else {
				keep = append(keep, pr)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		p.mu.Unlock()
		for _, pr := range old {
			p.restarts.add(RestartIdle)
			p.log.Debug().Int("php_pid", pr.cmd.Process.Pid).Int("jobs", pr.jobs).Msg("stopping idle PHP process")
			go p.stop(pr)
		}
	}
}

// stop ends a process: stdin closed (the runner exits after its job), then SIGTERM and
// SIGKILL to its group if it lingers.
func (p *PHP) stop(pr *proc) {
	pr.stdin.Close()
	select {
	case <-pr.done:
	case <-time.After(p.cfg.KillGrace):
		killGroup(pr.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-pr.done:
		case <-time.After(p.cfg.KillGrace):
			killGroup(pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
		}
	}
	p.forget(pr)
}

func (p *PHP) forget(pr *proc) {
	p.mu.Lock()
	delete(p.live, pr)
	p.mu.Unlock()
}
