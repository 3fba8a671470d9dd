package chaos

// Accounting: what became of every job, read from Redis and the workers' log at the end.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
)

// Fate is what became of one job.
type Fate struct {
	ID       string
	Runs     []string      // execution tokens pid/worker/seq, one per handler execution
	Status   resque.Status // 0: no status key
	Result   string        // the status packet's result: the token of the completing execution
	Failed   int           // records in `failed` carrying this id
	Queued   int           // copies still in the queue
	InFlight int           // in-flight records carrying it
}

// account reads what became of every job: its status and executions, its records in
// `failed`, the queue and the in-flight hash; then it sorts each job into one outcome and
// checks the stats against them.
func (d *driver) account(ids []string) error {
	for _, id := range ids {
		d.rep.Fates[id] = &Fate{ID: id}
	}
	c := d.pool.Get()
	defer c.Close()
	if err := d.readRuns(c, ids); err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	failed, err := d.readFailed(c)
	if err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	if err := d.readHolders(c); err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	d.classify(ids)
	if err := d.checkStats(c, len(failed)); err != nil {
		return fmt.Errorf("chaos: account: %w", err)
	}
	return nil
}

// readRuns reads each job's status packet and execution tokens, pipelined in batches.
func (d *driver) readRuns(c redis.Conn, ids []string) error {
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		for _, id := range part {
			_ = c.Send("GET", d.keys.JobStatus(id, ""))
			_ = c.Send("SMEMBERS", d.runKey+id)
		}
		vals, err := redis.Values(c.Do(""))
		if err != nil {
			return err
		}
		for j, id := range part {
			f := d.rep.Fates[id]
			if b, err := redis.Bytes(vals[2*j], nil); err == nil {
				var st resque.JobStatus
				if json.Unmarshal(b, &st) == nil {
					f.Status = st.Status
					_ = json.Unmarshal(st.Result, &f.Result)
				}
			}
			f.Runs, _ = redis.Strings(vals[2*j+1], nil)
			sort.Strings(f.Runs)
		}
	}
	return nil
}

// readFailed counts each job's records in `failed`, which must all be dirty exits, and
// returns the records.
func (d *driver) readFailed(c redis.Conn) ([][]byte, error) {
	r := d.rep
	failed, err := redis.ByteSlices(c.Do("LRANGE", d.keys.Failed(), 0, -1))
	if err != nil {
		return nil, err
	}
	for _, rec := range failed {
		var fr struct {
			Exception string          `json:"exception"`
			Error     string          `json:"error"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(rec, &fr); err != nil {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("unreadable failure record %q", rec))
			continue
		}
		id := payloadID(fr.Payload)
		f := r.Fates[id]
		if f == nil {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("failure record for an unknown job: %s", rec))
			continue
		}
		if fr.Exception != resque.ExceptionDirtyExit {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s failed with %s: %s", id, fr.Exception, fr.Error))
		}
		f.Failed++
	}
	return failed, nil
}

// readHolders counts each job's copies still in the queue and its in-flight records.
func (d *driver) readHolders(c redis.Conn) error {
	r := d.rep
	queued, err := redis.ByteSlices(c.Do("LRANGE", d.keys.Queue(d.cfg.Queue), 0, -1))
	if err != nil {
		return err
	}
	for _, p := range queued {
		if f := r.Fates[payloadID(p)]; f != nil {
			f.Queued++
		} else {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("unknown job in the queue: %s", p))
		}
	}
	inflight, err := redis.ByteSlices(c.Do("HVALS", d.keys.InFlight()))
	if err != nil {
		return err
	}
	for _, rec := range inflight {
		if f := r.Fates[recordJobID(rec)]; f != nil {
			f.InFlight++
		}
	}
	return nil
}

// classify sorts every job into one outcome (performed, failed, queued, in flight or lost)
// and records as anomalies whatever contradicts the faults: a job that ran more often, or
// was recorded in `failed` more or less often, than SIGKILLed workers held it.
func (d *driver) classify(ids []string) {
	r := d.rep
	// held counts, per job, the SIGKILLed workers that died holding it: each such hold must
	// be settled by exactly one prune, as a failure (fail) or a requeue (requeue).
	held := map[string]int{}
	for _, f := range r.Faults {
		for _, id := range f.Held {
			held[id]++
			r.HeldAtKill++
		}
	}
	requeue := d.cfg.DeadJobs == "requeue"
	if requeue {
		r.Requeued = r.HeldAtKill
	}
	for _, id := range ids {
		f := r.Fates[id]
		h := held[id]
		if d.phpIDs[id] {
			switch {
			case f.Status == resque.StatusComplete:
				r.PHP.Performed++
			case f.Failed > 0:
				r.PHP.Failed++
				if len(f.Runs) > 0 {
					r.PHP.FailedRan++
				}
			}
			if len(f.Runs) > 1 {
				r.PHP.Duplicates++
			}
		}
		if len(f.Runs) > 1 {
			r.Duplicates++
			r.DuplicateIDs = append(r.DuplicateIDs, id)
			if !requeue || len(f.Runs)-1 > h {
				r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s ran %d times but was held by a killed worker %d times (dead jobs: %s)", id, len(f.Runs), h, d.cfg.DeadJobs))
			}
		}
		switch {
		case requeue && h > 0 && (f.Status != resque.StatusComplete || f.Failed > 0):
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s was held by a killed worker and requeued, yet ends with status %v and %d failure records", id, f.Status, f.Failed))
		case !requeue && f.Failed != h:
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s was held by a killed worker %d times but has %d failure records", id, h, f.Failed))
		}
		if f.Failed > 1 {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s recorded in failed %d times", id, f.Failed))
		}
		d.outcome(id, f)
	}
}

// outcome counts job id as exactly one of performed, failed, queued, in flight or lost.
func (d *driver) outcome(id string, f *Fate) {
	r := d.rep
	switch {
	case f.Status == resque.StatusComplete:
		if len(f.Runs) == 0 {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s is complete but its handler never ran", id))
		}
		if f.Failed > 0 {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s is complete and also in failed", id))
		}
		if f.Queued > 0 || f.InFlight > 0 {
			r.Anomalies = append(r.Anomalies, fmt.Sprintf("job %s is complete and still queued or in flight", id))
		}
		r.Performed++
	case f.Failed > 0:
		r.Failed++
		if len(f.Runs) > 0 {
			r.FailedRan++
		}
		r.FailedStatus[f.Status]++
	case f.Queued > 0:
		r.Queued++
	case f.InFlight > 0:
		r.InFlight++
	default:
		r.Lost++
		r.LostIDs = append(r.LostIDs, id)
	}
}

// checkStats compares stat:processed and stat:failed with the outcomes: every job
// performed or recorded in `failed` (failedLen records) counts as processed once.
func (d *driver) checkStats(c redis.Conn, failedLen int) error {
	r := d.rep
	vals, err := redis.Values(c.Do("MGET", d.keys.Stat("processed"), d.keys.Stat("failed")))
	if err != nil {
		return err
	}
	r.StatProcessed, _ = redis.Int64(vals[0], nil)
	r.StatFailed, _ = redis.Int64(vals[1], nil)
	r.FailedLen = int64(failedLen)
	if want := int64(r.Performed) + r.FailedLen; r.StatProcessed != want {
		r.Anomalies = append(r.Anomalies, fmt.Sprintf("stat:processed is %d, want %d (complete + failed)", r.StatProcessed, want))
	}
	if r.StatFailed != r.FailedLen {
		r.Anomalies = append(r.Anomalies, fmt.Sprintf("stat:failed is %d, failed holds %d", r.StatFailed, r.FailedLen))
	}
	return nil
}

// readLog counts what the workers logged about dead workers, adopted claims and crashes.
func (d *driver) readLog() {
	f, err := os.Open(d.cfg.WorkerLog)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	r := d.rep
	for sc.Scan() {
		var l struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case strings.Contains(l.Message, "goes back to the head of the queue"):
			r.RequeueLogs++
		case strings.Contains(l.Message, "is recorded as failed"):
			r.PrunedFailed++
		case strings.Contains(l.Message, "resuming a job claimed before the connection was lost"):
			r.Adopted++
		case strings.Contains(l.Message, "settled by someone else"):
			r.Replays++
		case strings.Contains(l.Message, "worker process died"):
			r.ChildCrashes++
		}
		if l.Level == "error" && len(r.ErrorLines) < 10 && !strings.Contains(l.Message, "redis unreachable; retrying") &&
			!strings.Contains(l.Message, "worker process died") {
			r.ErrorLines = append(r.ErrorLines, sc.Text())
		}
	}
}

// payloadID reads the "id" of a php-resque payload.
func payloadID(p []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(p, &v)
	return v.ID
}

// recordJobID reads the job id of a "working on" record {"queue","run_at","payload"}.
func recordJobID(rec []byte) string {
	var v struct {
		Payload json.RawMessage `json:"payload"`
	}
	_ = json.Unmarshal(rec, &v)
	return payloadID(v.Payload)
}

// idPID is the pid of a worker id host:pid:queues, 0 when not a number.
func idPID(id string) int {
	parts := strings.SplitN(id, ":", 3)
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}
