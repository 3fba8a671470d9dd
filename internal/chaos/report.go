package chaos

// The report of a run and the zero-loss verdict.

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/goresque/goresque/resque"
)

// Report is the outcome of Run.
type Report struct {
	Jobs         int
	Faults       []Fault
	FaultsByKind map[Kind]int
	Shortfall    int // faults not injected because the queue ran dry first

	Performed int // status complete and the handler ran
	Failed    int // recorded in `failed` as Resque_Job_DirtyExitException (not complete)
	FailedRan int // ... of which the handler had run before its worker died
	// FailedStatus counts the status packets of the failed jobs (a dead worker's job
	// keeps the status it had: running).
	FailedStatus map[resque.Status]int
	Requeued     int // dead workers' jobs put back at the head of their queue (requeue: HeldAtKill)
	HeldAtKill   int // jobs held by SIGKILLed workers when they died, summed over the faults
	Duplicates   int // jobs whose handler ran more than once
	Queued       int // still in the queue at the end
	InFlight     int // still held by a worker at the end
	Lost         int // none of the above

	LostIDs      []string
	DuplicateIDs []string
	Fates        map[string]*Fate
	Anomalies    []string // anything inconsistent: a bug even when nothing was lost

	StatProcessed, StatFailed, FailedLen int64
	PrunedFailed                         int // worker log: prunes recording a dead job as failed
	RequeueLogs                          int // worker log: prunes requeueing a dead job
	Adopted                              int // worker log: claims resumed after a lost reply
	Replays                              int // worker log: outcomes already settled (replay or prune)
	ChildCrashes                         int // worker log (COUNT): worker processes that died
	UnexpectedExits                      []string
	ErrorLines                           []string // worker log lines at level error (first few)
	Stopped                              string   // how the last worker ended after SIGQUIT
	Elapsed                              time.Duration

	PHP PHPReport // the PHP jobs and processes (Config.PHPShare)
}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	var kinds []string
	for _, k := range AllKinds {
		if n := r.FaultsByKind[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(w, "jobs                 %d", r.Jobs)
	if r.PHP.Jobs > 0 {
		fmt.Fprintf(w, " (%d of them %s, run by the PHP bridge)", r.PHP.Jobs, PHPClass)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "faults               %d (%s)", len(r.Faults), strings.Join(kinds, ", "))
	if r.Shortfall > 0 {
		fmt.Fprintf(w, "; %d not injected: the queue ran dry first", r.Shortfall)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "performed            %d (status complete, handler ran)\n", r.Performed)
	fmt.Fprintf(w, "failed (dirty exits) %d (Resque_Job_DirtyExitException in failed; the handler had run for %d", r.Failed, r.FailedRan)
	if r.Failed > 0 {
		var sts []string
		for _, st := range []resque.Status{resque.StatusWaiting, resque.StatusRunning, resque.StatusFailed, resque.StatusComplete} {
			if n := r.FailedStatus[st]; n > 0 {
				sts = append(sts, fmt.Sprintf("%d %v", n, st))
			}
		}
		fmt.Fprintf(w, "; their status packets: %s", strings.Join(sts, ", "))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "requeued             %d (dead workers' jobs put back at the head of the queue)\n", r.Requeued)
	fmt.Fprintf(w, "held at SIGKILL      %d (jobs in flight in the killed processes, each checked to be failed or requeued once)\n", r.HeldAtKill)
	fmt.Fprintf(w, "duplicates           %d (handler ran more than once)\n", r.Duplicates)
	fmt.Fprintf(w, "still queued         %d\n", r.Queued)
	fmt.Fprintf(w, "still in flight      %d\n", r.InFlight)
	fmt.Fprintf(w, "lost                 %d\n", r.Lost)
	fmt.Fprintf(w, "stats                stat:processed %d, stat:failed %d, failed list %d\n", r.StatProcessed, r.StatFailed, r.FailedLen)
	fmt.Fprintf(w, "worker logs          %d prunes failing a dead job (racing pruners both log; one wins), %d requeues, %d claims resumed after a lost reply, %d outcomes found already settled, %d COUNT worker deaths\n",
		r.PrunedFailed, r.RequeueLogs, r.Adopted, r.Replays, r.ChildCrashes)
	fmt.Fprintf(w, "unexpected exits     %d\n", len(r.UnexpectedExits))
	for _, u := range r.UnexpectedExits {
		fmt.Fprintf(w, "  %s\n", u)
	}
	r.printPHP(w)
	fmt.Fprintf(w, "last worker          %s after SIGQUIT\n", r.Stopped)
	fmt.Fprintf(w, "elapsed              %.1fs\n", r.Elapsed.Seconds())
	if len(r.ErrorLines) > 0 {
		fmt.Fprintf(w, "worker errors (first %d):\n", len(r.ErrorLines))
		for _, l := range r.ErrorLines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	for i, id := range r.DuplicateIDs {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more duplicates\n", len(r.DuplicateIDs)-10)
			break
		}
		fmt.Fprintf(w, "duplicate %s: runs %v, completed by %q; %s\n", id, r.Fates[id].Runs, r.Fates[id].Result, r.faultsHolding(id))
	}
	for i, id := range r.LostIDs {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more lost\n", len(r.LostIDs)-10)
			break
		}
		f := r.Fates[id]
		fmt.Fprintf(w, "LOST %s: status %v, runs %v; %s\n", id, f.Status, f.Runs, r.faultsHolding(id))
	}
	if len(r.Anomalies) > 0 {
		fmt.Fprintf(w, "anomalies            %d\n", len(r.Anomalies))
		for i, a := range r.Anomalies {
			if i == 20 {
				fmt.Fprintf(w, "  ... %d more\n", len(r.Anomalies)-20)
				break
			}
			fmt.Fprintf(w, "  %s\n", a)
		}
	} else {
		fmt.Fprintf(w, "anomalies            none\n")
	}
	fmt.Fprintf(w, "delivery             %s\n", r.Guarantee())
}

// faultsHolding names the faults that hit while job id was in flight.
func (r *Report) faultsHolding(id string) string {
	var hits []string
	for _, f := range r.Faults {
		for _, j := range f.Held {
			if j == id {
				hits = append(hits, fmt.Sprintf("held by the dead at fault %d (%s %s at %.2fs)", f.N, f.Kind, f.Target, f.At.Seconds()))
			}
		}
		if f.Kind == ClientKill {
			for _, j := range f.InFlight {
				if j == id {
					hits = append(hits, fmt.Sprintf("in flight at fault %d (%s at %.2fs)", f.N, f.Kind, f.At.Seconds()))
				}
			}
		}
	}
	if len(hits) == 0 {
		return "hit by no fault"
	}
	return strings.Join(hits, ", ")
}

// heldAtKill reports whether job id was held by a worker when it was SIGKILLed.
func (r *Report) heldAtKill(id string) bool {
	for _, f := range r.Faults {
		for _, j := range f.Held {
			if j == id {
				return true
			}
		}
	}
	return false
}

// OK reports whether every job is accounted for and nothing was inconsistent.
func (r *Report) OK() bool {
	return r.Lost == 0 && r.Queued == 0 && r.InFlight == 0 && len(r.Anomalies) == 0
}

// Guarantee states the delivery guarantee the run observed.
func (r *Report) Guarantee() string {
	switch {
	case r.Lost > 0:
		return fmt.Sprintf("VIOLATED: %d jobs lost", r.Lost)
	case r.Queued > 0 || r.InFlight > 0:
		return fmt.Sprintf("not settled: %d jobs still queued, %d in flight", r.Queued, r.InFlight)
	case r.Duplicates > 0:
		atKill := 0
		for _, id := range r.DuplicateIDs {
			if r.heldAtKill(id) {
				atKill++
			}
		}
		return fmt.Sprintf("at least once: no job lost; %d jobs ran more than once, %d of them held by a SIGKILLed worker and requeued", r.Duplicates, atKill)
	case r.Failed > 0:
		return "at least once (recorded): no job lost, none ran twice; every job was performed, or recorded in failed as a dirty exit when its worker died mid-job (retryable from there)"
	}
	return "exactly once in this run: every job performed once, none lost"
}
