package chaos

// The faults: their kinds, when Run injects them (inject) and what each does (fault).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Kind is a kind of fault.
type Kind string

// The faults Run injects.
const (
	// KillProc is SIGKILL of one worker process: the worker itself, or with COUNT a
	// randomly chosen process of the group (the parent or one of its workers).
	KillProc Kind = "kill-proc"
	// KillGroup is SIGKILL of the worker's whole process group together with every php
	// process the worker started: each in a process group of its own, and the children
	// those fork for jobs in yet others. The tree is frozen first and killed at once, as a
	// container's or cgroup's kill would (killTree).
	KillGroup Kind = "kill-group"
	// ClientKill is CLIENT KILL of every connection of the worker (every normal client
	// but the driver's own, which are named DriverName).
	ClientKill Kind = "client-kill"
	// Quit is SIGQUIT (a graceful stop: running jobs finish) and a restart, as in a deploy.
	// Not a fault, but a stop in the middle of the traffic, which the faults then meet.
	Quit Kind = "quit"
)

// AllKinds are the fault kinds, in the order they are reported.
var AllKinds = []Kind{KillProc, KillGroup, ClientKill, Quit}

// DefaultKinds are the kinds Run uses when Config.Kinds is nil.
var DefaultKinds = []Kind{KillProc, KillGroup, ClientKill}

// ParseKinds reads a comma-separated list of fault kinds.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k := Kind(f)
		if k != KillProc && k != KillGroup && k != ClientKill && k != Quit {
			return nil, fmt.Errorf("unknown fault kind %q (want %s, %s, %s or %s)", f, KillProc, KillGroup, ClientKill, Quit)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no fault kinds")
	}
	return out, nil
}

// Fault is one injected fault.
type Fault struct {
	N        int
	At       time.Duration // since the worker was first started
	Kind     Kind
	Target   string   // what was hit
	InFlight []string // ids of the jobs in flight (any worker) just before the fault
	Held     []string // ids of the jobs the killed processes held when they died (SIGKILL)
	Killed   int      // connections killed (ClientKill)

	PHPKilled int   // php processes killed with the worker's tree (KillGroup)
	PHPDied   int   // the killed worker's php processes that died with it (KillProc, Pdeathsig)
	Orphans   []int // pids of its job children that outlived it (KillProc, fork isolation)
}

func (f Fault) String() string {
	s := fmt.Sprintf("fault %2d  t=%6.2fs  %-11s %-36s in flight: %d", f.N, f.At.Seconds(), f.Kind, f.Target, len(f.InFlight))
	if f.Kind == KillProc || f.Kind == KillGroup {
		s += fmt.Sprintf(", held by the dead: %d", len(f.Held))
	}
	switch {
	case f.PHPKilled > 0:
		s += fmt.Sprintf("; php killed: %d", f.PHPKilled)
	case f.PHPDied > 0 || len(f.Orphans) > 0:
		s += fmt.Sprintf("; php died with it: %d, job children outliving it: %d", f.PHPDied, len(f.Orphans))
	}
	return s
}

// inject injects the faults, each once a share of the jobs has been taken (so they are
// spread over the run whatever its speed) and a job of the current worker is in flight.
func (d *driver) inject(ctx context.Context) error {
	n := d.cfg.Faults
	kinds := make([]Kind, n)
	for i := range kinds {
		kinds[i] = d.cfg.Kinds[i%len(d.cfg.Kinds)]
	}
	d.rng.Shuffle(n, func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for i := range n {
		// Fault i fires after a random point of the i-th stratum of 5%..85% of the jobs.
		at := int(float64(d.cfg.Jobs) * (0.05 + 0.80*(float64(i)+d.rng.Float64())/float64(n)))
		// With PHP jobs, a SIGKILL waits for a PHP job of the current worker in flight, so
		// that it hits a php process at work, until the end of its stratum; then any job.
		wantPHP := d.php && (kinds[i] == KillProc || kinds[i] == KillGroup)
		end := int(float64(d.cfg.Jobs) * (0.05 + 0.80*float64(i+1)/float64(n)))
		for {
			ready := false
			for !ready {
				if err := ctx.Err(); err != nil {
					return err
				}
				if time.Since(d.t0) > d.cfg.Timeout {
					d.rep.Shortfall = n - i
					d.notef("timeout before fault %d", i+1)
					return nil
				}
				if err := d.tend(); err != nil {
					return err
				}
				q, inf, err := d.counts()
				if err != nil {
					return d.redisErr(err)
				}
				if q == 0 && inf == 0 {
					d.rep.Shortfall = n - i
					d.notef("the queue ran dry before fault %d", i+1)
					return nil
				}
				if d.cfg.Jobs-q >= at {
					wantPHP = wantPHP && d.cfg.Jobs-q < end
					if ready, err = d.busy(wantPHP); err != nil {
						return d.redisErr(err)
					}
				}
				if !ready {
					time.Sleep(2 * time.Millisecond)
				}
			}
			// Land at a random phase of the running jobs: claim, handler, outcome.
			if d.cfg.MaxSleep > 0 {
				time.Sleep(time.Duration(d.rng.Int64N(int64(d.cfg.MaxSleep) + 1)))
			}
			if !wantPHP {
				break
			}
			// The PHP job may have ended meanwhile: then wait for the next one.
			still, err := d.busy(true)
			if err != nil {
				return d.redisErr(err)
			}
			if still {
				break
			}
		}
		if err := d.fault(i+1, kinds[i]); err != nil {
			return err
		}
	}
	return nil
}

// fault injects fault n into the current worker: it aims, hits, records which jobs the
// processes it killed held, and restarts the worker after a kill of it or a stop.
func (d *driver) fault(n int, kind Kind) error {
	f := Fault{N: n, Kind: kind}
	p := d.cur
	victims, restart := d.aim(&f, p)
	if m, err := d.inflightJobs(); err == nil {
		for _, id := range m {
			f.InFlight = append(f.InFlight, id)
		}
		sort.Strings(f.InFlight)
	}
	f.At = time.Since(d.t0)
	k, err := d.hit(&f, p, victims)
	if err != nil {
		return err
	}
	if k.frozen {
		defer syscall.Kill(-p.pgid, syscall.SIGCONT)
	}
	if len(k.victims) > 0 {
		if err := d.heldByDead(&f, p, k); err != nil {
			return err
		}
	}
	d.rep.Faults = append(d.rep.Faults, f)
	d.rep.FaultsByKind[kind]++
	d.notef("%s", f)
	if !restart {
		return nil
	}
	return d.restartAfter(p, n, kind)
}

// aim picks what fault f hits in worker p: the process a kill-proc kills (the worker, or
// with COUNT a random process of its group), and whether the worker is restarted after it.
func (d *driver) aim(f *Fault, p *proc) (victims []int, restart bool) {
	switch f.Kind {
	case KillProc:
		target := p.cmd.Process.Pid
		if d.cfg.Count > 1 {
			members := d.groupPIDs(p.pgid)
			if len(members) > 0 {
				target = members[d.rng.IntN(len(members))]
			}
		}
		if target != p.cmd.Process.Pid {
			f.Target = fmt.Sprintf("pid %d (COUNT worker)", target)
			return []int{target}, false
		}
		p.killed = true
		f.Target = fmt.Sprintf("pid %d", target)
		if d.cfg.Count > 1 {
			f.Target += " (COUNT parent)"
		}
		return []int{target}, true
	case KillGroup:
		p.killed = true
		return nil, true
	case Quit:
		p.killed = true
		f.Target = fmt.Sprintf("pid %d", p.cmd.Process.Pid)
		return nil, true
	}
	return nil, false
}

// kill is what hit leaves for heldByDead: the processes SIGKILLed, whether the rest of a
// COUNT worker's group is frozen (SIGSTOP), and with PHP jobs the run's processes just
// before a kill-proc.
type kill struct {
	victims []int
	frozen  bool
	before  map[int]pinfo
}

// hit injects fault f into worker p; victims are aim's.
func (d *driver) hit(f *Fault, p *proc, victims []int) (kill, error) {
	k := kill{victims: victims}
	switch f.Kind {
	case KillProc:
		if d.php {
			// Stopped (every thread of it), the victim starts no php process and records
			// no outcome of a job between the look below and its death. Alone first: a
			// thread starting a php process waits for it to exec, which a process stopped
			// with the group before its exec never does.
			_ = syscall.Kill(victims[0], syscall.SIGSTOP)
			waitStopped(victims[0])
		}
		if victims[0] != p.cmd.Process.Pid {
			// A COUNT worker: freeze the rest of its group (the parent, which restarts it
			// after a backoff and whose new worker prunes it, and its siblings) until its
			// in-flight records are read (heldByDead).
			k.frozen = syscall.Kill(-p.pgid, syscall.SIGSTOP) == nil
		}
		if d.php {
			k.before = d.snapshot()
		}
		_ = syscall.Kill(victims[0], syscall.SIGKILL)
	case KillGroup:
		killed := d.killTree(p)
		php := 0
		for pid, pi := range killed {
			k.victims = append(k.victims, pid)
			if pi.php() {
				php++
			}
		}
		sort.Ints(k.victims)
		f.PHPKilled = php
		f.Target = fmt.Sprintf("group %d (%d processes)", p.pgid, len(k.victims))
		if php > 0 {
			f.Target = fmt.Sprintf("group %d + php (%d processes, %d php)", p.pgid, len(k.victims), php)
		}
	case ClientKill:
		n, err := d.clientKill()
		if err != nil {
			return k, d.redisErr(err)
		}
		f.Killed = n
		f.Target = fmt.Sprintf("%d connections", n)
	case Quit:
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	}
	return k, nil
}

// heldByDead waits until the processes k killed are dead and records in f the jobs they
// held: their in-flight records once they are dead, before anyone could prune them: the
// restarted worker starts after this, and COUNT restarts a worker 1 s after its death at
// the earliest. A command a victim wrote just before dying is still executed by Redis: it
// was in the socket before the PING below was sent, so Redis, which handles every readable
// socket of an event-loop turn before answering in the next, has run it before the HGETALL
// that follows the PING's reply. With PHP jobs it also checks what became of the victims'
// php processes. It thaws a frozen COUNT group.
func (d *driver) heldByDead(f *Fault, p *proc, k kill) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, v := range k.victims {
		for d.ours(v) {
			if time.Now().After(deadline) {
				return fmt.Errorf("chaos: pid %d did not die of SIGKILL", v)
			}
			time.Sleep(time.Millisecond)
		}
	}
	switch {
	case k.before != nil:
		d.afterAloneKill(f, k.victims[0], k.before, time.Now())
	case f.Kind == KillGroup && d.php:
		d.rep.PHP.TreeKills++
		d.rep.PHP.TreeKilled += f.PHPKilled
		d.afterTreeKill(f)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := d.do("PING"); err != nil {
		return d.redisErr(err)
	}
	dead := map[int]bool{}
	for _, v := range k.victims {
		dead[v] = true
	}
	m, err := d.inflightJobs()
	if err != nil {
		return d.redisErr(err)
	}
	for w, id := range m {
		if dead[idPID(w)] {
			f.Held = append(f.Held, id)
			if d.phpIDs[id] {
				d.rep.PHP.HeldAtKill++
			}
		}
	}
	sort.Strings(f.Held)
	if k.frozen {
		_ = syscall.Kill(-p.pgid, syscall.SIGCONT)
	}
	return nil
}

// restartAfter waits until worker p has exited after fault n and starts a new one, after
// a random pause of up to Config.RestartDelay.
func (d *driver) restartAfter(p *proc, n int, kind Kind) error {
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("chaos: worker pid %d did not exit after %s", p.cmd.Process.Pid, kind)
	}
	if kind == Quit && p.cmd.ProcessState.ExitCode() != 0 {
		d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("fault %d: the worker exited %s after SIGQUIT", n, p.cmd.ProcessState))
	}
	if d.cfg.RestartDelay > 0 {
		time.Sleep(time.Duration(d.rng.Int64N(int64(d.cfg.RestartDelay) + 1)))
	}
	return d.start()
}

// clientKill kills every normal client connection except the driver's, and returns how
// many it killed.
func (d *driver) clientKill() (int, error) {
	list, err := redis.String(d.do("CLIENT", "LIST", "TYPE", "normal"))
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		f := clientFields(line)
		if f["id"] == "" || f["name"] == DriverName {
			continue
		}
		ids = append(ids, f["id"])
	}
	c := d.pool.Get()
	defer c.Close()
	for _, id := range ids {
		if err := c.Send("CLIENT", "KILL", "ID", id); err != nil {
			return 0, err
		}
	}
	vals, err := redis.Values(c.Do(""))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vals {
		if k, err := redis.Int(v, nil); err == nil {
			n += k
		}
	}
	return n, nil
}

func clientFields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
