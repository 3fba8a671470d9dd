package resque

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// workerID is php-resque's worker id: hostname:pid:queues, the queues joined with ","
// ("*" kept literally). Slot n > 0 of a process running several jobs at once is
// hostname_n:pid:queues: it keeps a real, live pid, so php-resque's prune (same host, pid
// not a live "resque" process) can never remove it, and an underscore, which no real host
// name contains, so it never collides with another machine's workers.
func workerID(hostname string, slot, pid int, queues []string) string {
	h := hostname
	if slot > 0 {
		h += "_" + strconv.Itoa(slot)
	}
	return h + ":" + strconv.Itoa(pid) + ":" + strings.Join(queues, ",")
}

// splitWorkerID splits an id on its first two colons, as php-resque's and Ruby's readers do.
func splitWorkerID(id string) (host, pid, queues string, ok bool) {
	parts := strings.SplitN(id, ":", 3)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// register adds the worker ids to `workers` with their start date, as php-resque's
// registerWorker does (SADD workers, SET worker:<id>:started), and writes a first
// heartbeat (Ruby resque 2.x), all in one round trip.
func (w *Worker) register(conn redis.Conn, ids []string) error {
	now := w.cfg.now().In(w.cfg.Location)
	date := w.cfg.Dialect.date(now)
	beat := phpjson.DateISO8601(now)
	for _, id := range ids {
		if err := conn.Send("SADD", w.keys.Workers(), id); err != nil {
			return err
		}
		if err := conn.Send("SET", w.keys.WorkerStarted(id), date); err != nil {
			return err
		}
		if err := conn.Send("HSET", w.keys.Heartbeats(), id, beat); err != nil {
			return err
		}
	}
	if _, err := conn.Do(""); err != nil {
		return fmt.Errorf("register workers: %w", err)
	}
	return nil
}

// unregister removes what register and the jobs left of a worker, as php-resque's
// unregisterWorker: SREM workers, DEL worker:<id>, :started, stat:processed:<id>,
// stat:failed:<id>; plus its heartbeat.
func (w *Worker) unregister(conn redis.Conn, ids []string) error {
	for _, id := range ids {
		for _, c := range [][]any{
			{"SREM", w.keys.Workers(), id},
			{"DEL", w.keys.Worker(id)},
			{"DEL", w.keys.WorkerStarted(id)},
			{"DEL", w.keys.WorkerStat("processed", id)},
			{"DEL", w.keys.WorkerStat("failed", id)},
			{"HDEL", w.keys.Heartbeats(), id},
		} {
			if err := conn.Send(c[0].(string), c[1:]...); err != nil {
				return err
			}
		}
	}
	if _, err := conn.Do(""); err != nil {
		return fmt.Errorf("unregister workers: %w", err)
	}
	return nil
}

// heartbeat writes the current time for every id into workers:heartbeat.
func (w *Worker) heartbeat(conn redis.Conn, ids []string) error {
	beat := phpjson.DateISO8601(w.cfg.now().In(w.cfg.Location))
	args := []any{w.keys.Heartbeats()}
	for _, id := range ids {
		args = append(args, id, beat)
	}
	if _, err := conn.Do("HSET", args...); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// pruneDeadWorkers finds dead workers and settles them, as php-resque's
// pruneDeadWorkers does at start, with two differences:
//
//   - A dead worker's in-flight job is never dropped: it goes to `failed` as
//     Resque_Job_DirtyExitException (Ruby resque's behaviour) or back to its queue
//     (RequeueDeadJobs). php-resque deletes worker:<id> without a trace.
//   - Besides same-host workers whose pid is not a live "resque" process (php-resque's
//     rule, unchanged), workers on any host whose heartbeat is older than PruneAfter are
//     pruned (Ruby resque's rule), under Ruby's prune lock. Workers without a heartbeat
//     on other hosts (php-resque workers) are left alone.
//
// Registrations carrying this worker's own ids are dead by definition when skip is empty
// (we have not registered yet): a restarted container often reuses hostname and pid.
// skip lists the ids of live slots of this process during periodic prunes.
func (w *Worker) pruneDeadWorkers(ctx context.Context, conn redis.Conn, skip map[string]bool) (int, error) {
	members, err := redis.Strings(conn.Do("SMEMBERS", w.keys.Workers()))
	if err != nil {
		return 0, fmt.Errorf("prune: list workers: %w", err)
	}
	beats, err := redis.StringMap(conn.Do("HGETALL", w.keys.Heartbeats()))
	if err != nil {
		return 0, fmt.Errorf("prune: heartbeats: %w", err)
	}
	inflight, err := redis.Strings(conn.Do("HKEYS", w.keys.InFlight()))
	if err != nil {
		return 0, fmt.Errorf("prune: in-flight: %w", err)
	}
	registered, inflightSet := map[string]bool{}, map[string]bool{}
	for _, id := range members {
		registered[id] = true
	}
	for _, id := range inflight {
		inflightSet[id] = true
	}
	seen := map[string]bool{}
	var candidates []string
	for _, list := range [][]string{members, inflight} {
		for _, id := range list {
			if !seen[id] {
				seen[id] = true
				candidates = append(candidates, id)
			}
		}
	}
	for id := range beats {
		if !seen[id] {
			seen[id] = true
			candidates = append(candidates, id)
		}
	}

	now := w.cfg.now()
	var livePIDs map[int]bool // filled lazily, like php-resque's workerPids()
	locked := false
	pruned := 0
	for _, id := range candidates {
		if skip[id] || ctx.Err() != nil {
			continue
		}
		host, pidStr, _, ok := splitWorkerID(id)
		if !ok {
			continue
		}
		reason := ""
		if w.sameHost(host) {
			pid, err := strconv.Atoi(pidStr)
			if err != nil {
				continue
			}
			if pid == w.cfg.pid {
				if len(skip) > 0 {
					continue // one of our own live slots
				}
				reason = "a previous worker with this id (same host and pid) did not unregister"
			} else {
				if livePIDs == nil {
					livePIDs = resquePIDs()
				}
				if livePIDs[pid] {
					continue
				}
				reason = "its process " + pidStr + " is gone"
			}
		} else {
			beat, hasBeat := beats[id]
			switch {
			case hasBeat:
				t, err := parseHeartbeat(beat)
				if err == nil && now.Sub(t) < w.cfg.PruneAfter {
					continue
				}
				reason = "its heartbeat is older than " + w.cfg.PruneAfter.String()
			case inflightSet[id] && !registered[id]:
				// A job in goresque's in-flight hash under an id that is neither registered
				// nor beating: no live worker holds it (a live one registers before it
				// claims and beats until it unregisters).
				reason = "it is not registered and has no heartbeat, but holds a job"
			default:
				continue // php-resque workers elsewhere: not ours to judge
			}
			if !locked {
				ok, err := redis.String(conn.Do("SET", w.keys.PruneLock(), w.ids[0], "NX", "EX", 60))
				if err != nil && !errors.Is(err, redis.ErrNil) {
					return pruned, fmt.Errorf("prune: lock: %w", err)
				}
				if ok != "OK" {
					continue // another worker is pruning; it will handle this one
				}
				locked = true
			}
		}
		done, err := w.pruneOne(conn, id, reason, false)
		if err != nil {
			return pruned, err
		}
		if done {
			pruned++
		}
	}
	if locked {
		if _, err := conn.Do("DEL", w.keys.PruneLock()); err != nil {
			return pruned, fmt.Errorf("prune: unlock: %w", err)
		}
	}
	return pruned, nil
}

func (w *Worker) sameHost(host string) bool {
	h := w.cfg.Hostname
	if host == h {
		return true
	}
	rest, ok := strings.CutPrefix(host, h+"_")
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}

// pruneOne settles worker id: its in-flight job (if any) is failed or requeued (as the
// DeadJobs policy says, or requeued when requeue is set) and its keys removed, atomically,
// only if its in-flight record is still the one read here.
func (w *Worker) pruneOne(conn redis.Conn, id, reason string, requeue bool) (bool, error) {
	rec, err := redis.Bytes(conn.Do("HGET", w.keys.InFlight(), id))
	if errors.Is(err, redis.ErrNil) {
		rec, err = redis.Bytes(conn.Do("GET", w.keys.Worker(id)))
	}
	if err != nil && !errors.Is(err, redis.ErrNil) {
		return false, fmt.Errorf("prune %s: %w", id, err)
	}
	var sha, failure, payloadBack, queueKey, statusKey, head, tail, splice, ttl string
	queueKey, statusKey = w.keys.Queue("-"), w.keys.JobStatus("-", "") // placeholders, untouched
	log := w.log.With().Str("dead_worker", id).Logger()
	if rec != nil {
		sha = sha1hex(rec)
		queue, payload := parseWorkingOn(rec)
		now := w.cfg.now()
		status := StatusFailed
		if (requeue || w.cfg.DeadJobs == RequeueDeadJobs) && queue != "" && len(payload) > 0 {
			status = StatusWaiting
			payloadBack = string(payload)
			queueKey = w.keys.Queue(queue)
			log.Warn().Str("queue", queue).Msgf("worker is dead (%s); its job goes back to the head of the queue", reason)
		} else {
			je := DirtyExit("Job exited abnormally: worker "+id+" died while performing it ("+reason+")", nil)
			f, err := failureRecord(w.cfg.Dialect, now.In(w.cfg.Location), payload, je, id, queue)
			if err != nil {
				return false, fmt.Errorf("prune %s: %w", id, err)
			}
			failure = string(f)
			ttl = itoa(statusTTL)
			log.Warn().Str("queue", queue).Msgf("worker is dead (%s); its job is recorded as failed (%s)", reason, ExceptionDirtyExit)
		}
		// Its status packet: failed (expiring, as a finished job's) or waiting again.
		if job, err := decodePayload(queue, payload); err == nil && job.ID != "" {
			statusKey = w.keys.JobStatus(job.ID, job.Prefix)
			var sp bool
			head, tail, sp = statusUpdate(w.cfg.Dialect, status, now, nil)
			splice = boolFlag(sp)
		}
	} else {
		log.Info().Msgf("pruning dead worker (%s)", reason)
	}
	n, err := redis.Int(pruneScript.Do(conn,
		w.keys.Workers(), w.keys.Worker(id), w.keys.WorkerStarted(id),
		w.keys.WorkerStat("processed", id), w.keys.WorkerStat("failed", id),
		w.keys.Heartbeats(), w.keys.InFlight(), w.keys.Failed(),
		w.keys.Stat("failed"), w.keys.Stat("processed"), queueKey, statusKey,
		id, sha, failure, payloadBack, head, tail, splice, ttl))
	if err != nil {
		return false, fmt.Errorf("prune %s: %w", id, err)
	}
	return n == 1, nil
}

// parseWorkingOn extracts the queue and the raw payload from a "working on" record
// {"queue":Q,"run_at":D,"payload":P}. It does not parse P, which may be anything a queue
// held, even invalid JSON.
func parseWorkingOn(rec []byte) (queue string, payload []byte) {
	dec := json.NewDecoder(bytes.NewReader(rec))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", nil
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return queue, nil
		}
		key, _ := t.(string)
		if key == "payload" {
			rest := bytes.TrimLeft(rec[dec.InputOffset():], " \t\r\n:")
			return queue, bytes.TrimSuffix(bytes.TrimRight(rest, " \t\r\n"), []byte("}"))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return queue, nil
		}
		if key == "queue" {
			_ = json.Unmarshal(v, &queue)
		}
	}
	return queue, nil
}

func parseHeartbeat(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05 -0700", "2006/01/02 15:04:05 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable heartbeat %q", s)
}

// resquePIDs returns the pids of live processes whose command line contains "resque":
// php-resque's workerPids() (`ps -A -o pid,command | grep [r]esque`), read from /proc
// where there is one.
func resquePIDs() map[int]bool {
	pids := map[int]bool{}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && bytes.Contains(cmd, []byte("resque")) {
				pids[pid] = true
			}
		}
		return pids
	}
	out, err := exec.Command("ps", "-A", "-o", "pid,command").Output()
	if err != nil {
		return pids
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "resque") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 0 {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				pids[pid] = true
			}
		}
	}
	return pids
}
