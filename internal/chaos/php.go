package chaos

// PHP jobs in the chaos run: the process tree of a worker and its PHP processes, the
// kill-group fault that kills that whole tree, and the checks after a worker is SIGKILLed
// alone (kill-proc), whose PHP processes must die with it by themselves (Pdeathsig).
//
// The bridge (package compat) starts every php process in a process group of its own with
// Pdeathsig SIGKILL; with fork isolation a warm process forks a child per job, which moves
// to yet another group and, like php-resque's children, has no Pdeathsig: it outlives a
// worker killed alone, finishes its job, and exits. A worker's tree is thus its process
// group (the worker; with COUNT, the parent and its workers), the php processes whose
// parent is a worker, and the children those fork.

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goresque/goresque/resque"
)

// tree returns the processes of snap in process group pgid or descending from root.
func tree(snap map[int]pinfo, root, pgid int) map[int]pinfo {
	children := map[int][]int{}
	out := map[int]pinfo{}
	for pid, pi := range snap {
		children[pi.ppid] = append(children[pi.ppid], pid)
		if pi.pgid == pgid {
			out[pid] = pi
		}
	}
	todo := []int{root}
	for len(todo) > 0 {
		pid := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if pi, ok := snap[pid]; ok {
			out[pid] = pi
		}
		todo = append(todo, children[pid]...)
	}
	return out
}

// attached reports whether process pid of snap descends, through php processes only, from
// a live worker process of the run. A php process that is not has lost its worker: it is
// dying of Pdeathsig, or it is a job child finishing its job after its worker's death.
func attached(snap map[int]pinfo, pid int) bool {
	cur := snap[pid].ppid
	for range 64 {
		pi, ok := snap[cur]
		if !ok {
			return false
		}
		if !pi.php() {
			return true
		}
		cur = pi.ppid
	}
	return false
}

// killTree is the kill-group fault: SIGKILL of the worker's process group and of every
// process group of the run descending from it — its php processes and the children they
// fork for jobs — at one moment, as a container's or a cgroup's kill would. The tree is
// frozen first (SIGSTOP, group by group, until every member is stopped), so that no process
// forks a child, or dies and orphans one, between the scan and the kill; a stopped process
// (every thread of it) cannot fork, and cannot exit, so no group it belongs to disappears
// before the SIGKILL.
// It returns the processes killed.
func (d *driver) killTree(p *proc) map[int]pinfo {
	groups := map[int]bool{p.pgid: true} // stopped
	_ = syscall.Kill(-p.pgid, syscall.SIGSTOP)
	var t map[int]pinfo
	deadline := time.Now().Add(2 * time.Second)
	for {
		t = tree(d.snapshot(), p.cmd.Process.Pid, p.pgid)
		frozen := true
		for _, pi := range t {
			switch {
			case !groups[pi.pgid]:
				groups[pi.pgid] = true
				_ = syscall.Kill(-pi.pgid, syscall.SIGSTOP)
				frozen = false
			case !stopped(pi.pid, true):
				frozen = false
			}
		}
		if frozen {
			break
		}
		if time.Now().After(deadline) {
			d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("kill-group: the tree of group %d did not freeze within 2s; killed as it was", p.pgid))
			break
		}
		time.Sleep(time.Millisecond)
	}
	for g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	for pid := range t {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return t
}

// strays returns the php processes of the run that have lost their worker (not attached)
// and are not known orphans of an earlier kill.
func (d *driver) strays(snap map[int]pinfo) map[int]pinfo {
	out := map[int]pinfo{}
	for pid, pi := range snap {
		if pi.php() && !attached(snap, pid) && d.orphans[pi.key()] == nil {
			out[pid] = pi
		}
	}
	return out
}

// afterTreeKill checks that no php process of the killed tree is left.
func (d *driver) afterTreeKill(f *Fault) {
	for pid, pi := range d.strays(d.snapshot()) {
		d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("fault %d: php process %d (%s, group %d) survived the kill of its worker's tree", f.N, pid, pi.comm, pi.pgid))
	}
}

// afterAloneKill checks, once the worker victim (SIGKILLed alone) is dead, that its php
// processes die too (Pdeathsig), and records the job children they had forked (fork
// isolation) as orphans: nothing kills those; they finish their job and exit. before is the
// run's processes just before the kill, taken with the victim (and, with COUNT, its group)
// stopped, so that it started no process since.
func (d *driver) afterAloneKill(f *Fault, victim int, before map[int]pinfo, died time.Time) {
	bridge := map[procKey]pinfo{} // the victim's own php processes: Pdeathsig SIGKILL
	for _, pi := range before {
		if pi.ppid == victim && pi.php() {
			bridge[pi.key()] = pi
		}
	}
	if len(bridge) == 0 {
		return // a COUNT parent: its workers, which own the php processes, live on
	}
	d.rep.PHP.AloneKills++
	// Every php process that lost its worker is either one of the victim's (dying now) or a
	// job child one of them forked: in before with a bridge process as parent, or forked
	// since (the victim and its group were stopped, so only a php process can have).
	for pid, pi := range d.strays(d.snapshot()) {
		if _, ok := bridge[pi.key()]; ok {
			continue
		}
		if b, ok := before[pid]; ok && b.start == pi.start {
			if _, isBridge := bridge[before[b.ppid].key()]; !isBridge {
				d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("fault %d: php process %d (%s, parent %d) of the run has no worker", f.N, pid, pi.comm, b.ppid))
				continue
			}
		}
		d.orphan(f, pi, died)
	}
	// Job children running at the kill that ended before the look above: orphans too.
	for _, pi := range before {
		if parent, ok := before[pi.ppid]; ok && pi.php() && d.orphans[pi.key()] == nil {
			if _, isBridge := bridge[parent.key()]; isBridge {
				d.orphan(f, pi, died)
			}
		}
	}
	if len(f.Orphans) > 0 {
		d.rep.PHP.OrphanKills++
		if d.cfg.PHPIsolation != "fork" {
			d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("fault %d: %d php processes outlived their worker, isolation %s forks no job children", f.N, len(f.Orphans), d.cfg.PHPIsolation))
		}
	}
	// The victim's own php processes die of Pdeathsig at its death; allow 3s.
	deadline := time.Now().Add(3 * time.Second)
	for {
		var left []pinfo
		for k, pi := range bridge {
			if alive(k) {
				left = append(left, pi)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			f.PHPDied = len(bridge) - len(left)
			d.rep.PHP.DiedWithWorker += f.PHPDied
			d.rep.PHP.Outlived += len(left)
			for _, pi := range left {
				d.rep.Anomalies = append(d.rep.Anomalies, fmt.Sprintf("fault %d: php process %d (%s) outlived its SIGKILLed worker %d by 3s (no Pdeathsig?)", f.N, pi.pid, pi.comm, victim))
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// orphan records a job child that outlived its worker, and watches it until it exits.
func (d *driver) orphan(f *Fault, pi pinfo, died time.Time) {
	o := &Orphan{Fault: f.N, PID: pi.pid}
	d.orphans[pi.key()] = o
	d.rep.PHP.Orphans = append(d.rep.PHP.Orphans, o)
	f.Orphans = append(f.Orphans, pi.pid)
	d.watch.Add(1)
	go func() {
		defer d.watch.Done()
		for alive(pi.key()) {
			time.Sleep(2 * time.Millisecond)
		}
		d.mu.Lock()
		o.Outlived = time.Since(died)
		o.ended = true
		d.mu.Unlock()
	}()
}

// Orphan is a job child a warm php process had forked (fork isolation) when its worker was
// SIGKILLed alone: nothing kills it (php-resque's children outlive a killed worker alike);
// it finishes its job, whose run it records, and exits.
type Orphan struct {
	Fault    int
	PID      int
	Outlived time.Duration // how long it ran on after its worker's death (to ~2 ms)
	Job      string        // the job it ran, by its run token ("php/<pid>/..."); "" when it recorded none
	Runs     int           // executions of that job, in all
	Status   resque.Status // that job's final status
	Failed   int           // its records in failed
	ended    bool
}

// PHPReport is what the run saw of the PHP jobs and processes.
type PHPReport struct {
	Mode, Isolation string

	Jobs       int // jobs enqueued as PHPClass
	Performed  int
	Failed     int // dirty exits
	FailedRan  int // ... whose PHP job had run (recorded its execution)
	Duplicates int
	HeldAtKill int // PHP jobs held by SIGKILLed workers, summed over the faults

	AloneKills     int // kill-proc faults of a worker that had php processes
	DiedWithWorker int // its php processes, dead with it (Pdeathsig)
	Outlived       int // its php processes alive 3s after its death: a bug (also an anomaly)
	OrphanKills    int // kill-proc faults that left job children running (fork isolation)
	Orphans        []*Orphan
	TreeKills      int // kill-group faults
	TreeKilled     int // php processes killed with their worker's tree
}

// accountOrphans finds the job each orphan ran by the pid in its run token, among the jobs
// its worker held, and checks that it ended and did not make its job run twice unless the
// job was requeued.
func (d *driver) accountOrphans() {
	r := d.rep
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range r.PHP.Orphans {
		prefix := "php/" + strconv.Itoa(o.PID) + "/"
		var cands []string
		for _, f := range r.Faults {
			if f.N == o.Fault {
				cands = f.Held
			}
		}
		for _, id := range cands {
			for _, tok := range r.Fates[id].Runs {
				if strings.HasPrefix(tok, prefix) {
					o.Job = id
				}
			}
		}
		if !o.ended {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("orphaned job child %d (fault %d) did not end", o.PID, o.Fault))
		}
		if o.Job == "" {
			continue // it ended before recording its run (killed while starting), or ran no job
		}
		f := r.Fates[o.Job]
		o.Runs, o.Status, o.Failed = len(f.Runs), f.Status, f.Failed
	}
}

// printPHP writes the PHP part of the report.
func (r *Report) printPHP(w io.Writer) {
	p := r.PHP
	if p.Jobs == 0 {
		return
	}
	fmt.Fprintf(w, "PHP jobs             %d %s (bridge %s, isolation %s): performed %d, failed %d (had run: %d), duplicates %d, held at SIGKILL %d\n",
		p.Jobs, PHPClass, p.Mode, p.Isolation, p.Performed, p.Failed, p.FailedRan, p.Duplicates, p.HeldAtKill)
	fmt.Fprintf(w, "PHP kill-group       %d faults; %d php processes killed with their worker's tree, none may survive\n", p.TreeKills, p.TreeKilled)
	fmt.Fprintf(w, "PHP kill-proc        %d faults of a worker with php processes; %d of them died with it (Pdeathsig), %d outlived it\n",
		p.AloneKills, p.DiedWithWorker, p.Outlived)
	runs, dup, unknown := 0, 0, 0
	for _, o := range p.Orphans {
		switch {
		case o.Job == "":
			unknown++
		case o.Runs > 1:
			dup++
		}
		if o.Job != "" {
			runs++
		}
	}
	fmt.Fprintf(w, "PHP orphans          %d forked job children outlived their SIGKILLed worker (after %d of %d kill-proc faults); %d recorded their run, %d of those jobs ran twice\n",
		len(p.Orphans), p.OrphanKills, p.AloneKills, runs, dup)
	sorted := append([]*Orphan(nil), p.Orphans...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Fault < sorted[j].Fault })
	for _, o := range sorted {
		job := "no run recorded"
		if o.Job != "" {
			job = fmt.Sprintf("job %s: %d run(s), status %v, %d failure record(s)", o.Job, o.Runs, o.Status, o.Failed)
		}
		fmt.Fprintf(w, "  orphan pid %d (fault %d) ran on %.0f ms after its worker died; %s\n", o.PID, o.Fault, float64(o.Outlived)/float64(time.Millisecond), job)
	}
}
