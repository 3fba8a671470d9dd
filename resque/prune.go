package resque

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// pruneDeadWorkers finds dead workers and settles them, as php-resque's
// pruneDeadWorkers does at start, with these differences:
//
//   - A dead worker's in-flight job is never dropped: it goes to `failed` as
//     Resque_Job_DirtyExitException (Ruby resque's behaviour) or back to its queue
//     (RequeueDeadJobs). php-resque deletes worker:<id> without a trace. A job another tool
//     already recorded as a dirty exit (Ruby's prune, resque-web, node-resque's
//     forceCleanWorker) is not recorded twice.
//   - Same-host liveness is read from /proc (see judgeLocal), not from the command line
//     alone, so a live node-resque worker ("node app.js") is not pruned and a pid reused by
//     a newer process does not keep a dead worker registered.
//   - Workers on any host whose heartbeat is older than PruneAfter by the Redis server's
//     clock are pruned (Ruby resque's rule), under Ruby's prune lock. Workers without a
//     heartbeat on other hosts (php-resque workers) are left alone.
//
// Registrations carrying this worker's own ids are dead by definition when skip is empty
// (we have not registered yet) and they were registered from this pid namespace: a
// restarted process often reuses hostname and pid. skip lists the ids of live slots of
// this process during periodic prunes.
//
// An error settling one worker (a `failed` key of the wrong type, say) is logged and the
// others are still pruned; the worker starts all the same.
func (w *Worker) pruneDeadWorkers(ctx context.Context, conn redis.Conn, skip map[string]bool) (int, error) {
	v, err := w.readRegistry(conn)
	if err != nil {
		return 0, err
	}
	p := &pruner{w: w, conn: conn, v: v, procs: newProcTable(), periodic: len(skip) > 0}
	defer p.unlock() // on every path: other pruners skip while it is held
	pruned := 0
	for _, id := range v.candidates {
		if skip[id] || ctx.Err() != nil {
			continue
		}
		reason, needLock, err := p.judge(id)
		if err != nil {
			return pruned, err
		}
		if reason == "" || needLock && !p.lock() {
			continue
		}
		done, err := w.pruneOne(conn, id, reason, false)
		var re redis.Error
		switch {
		case errors.As(err, &re):
			w.log.Error().Err(err).Str("dead_worker", id).Msg("could not settle a dead worker; carrying on, the next prune tries again")
		case err != nil:
			return pruned, err
		case done:
			pruned++
		}
	}
	return pruned, nil
}

// registryView is what a prune reads in one go: registrations, heartbeats, goresque's
// in-flight records and pid namespaces, and the Redis server's time.
type registryView struct {
	now         time.Time
	beats, ns   map[string]string
	registered  map[string]bool
	inflightSet map[string]bool
	candidates  []string // every id any of these knows, registered ones first
}

func (w *Worker) readRegistry(conn redis.Conn) (*registryView, error) {
	now, err := redisTime(conn)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	members, err := redis.Strings(conn.Do("SMEMBERS", w.keys.Workers()))
	if err != nil {
		return nil, fmt.Errorf("prune: list workers: %w", err)
	}
	beats, err := redis.StringMap(conn.Do("HGETALL", w.keys.Heartbeats()))
	if err != nil {
		return nil, fmt.Errorf("prune: heartbeats: %w", err)
	}
	inflight, err := redis.Strings(conn.Do("HKEYS", w.keys.InFlight()))
	if err != nil {
		return nil, fmt.Errorf("prune: in-flight: %w", err)
	}
	ns, err := redis.StringMap(conn.Do("HGETALL", w.keys.PIDNamespaces()))
	if err != nil {
		return nil, fmt.Errorf("prune: pid namespaces: %w", err)
	}
	v := &registryView{now: now, beats: beats, ns: ns, registered: map[string]bool{}, inflightSet: map[string]bool{}}
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			v.candidates = append(v.candidates, id)
		}
	}
	for _, id := range members {
		v.registered[id] = true
		add(id)
	}
	for _, id := range inflight {
		v.inflightSet[id] = true
		add(id)
	}
	for id := range beats {
		add(id)
	}
	return v, nil
}

// pruner holds one prune's state: what it read, /proc, and Ruby's prune lock.
type pruner struct {
	w        *Worker
	conn     redis.Conn
	v        *registryView
	procs    *procTable
	periodic bool
	locked   bool
	lockLost bool // another worker holds the lock
}

// lock takes Ruby resque's prune lock (SET NX EX 60) once per prune; false when another
// worker holds it (it will prune these workers itself).
func (p *pruner) lock() bool {
	if p.locked {
		return true
	}
	if p.lockLost {
		return false
	}
	ok, err := redis.String(p.conn.Do("SET", p.w.keys.PruneLock(), p.w.ids[0], "NX", "EX", 60))
	if err != nil && !errors.Is(err, redis.ErrNil) {
		p.w.log.Debug().Err(err).Msg("prune: lock")
	}
	p.locked = ok == "OK"
	p.lockLost = !p.locked
	return p.locked
}

func (p *pruner) unlock() {
	if !p.locked {
		return
	}
	if _, err := p.conn.Do("DEL", p.w.keys.PruneLock()); err != nil {
		p.w.log.Warn().Err(err).Msg("prune: could not release the prune lock (it expires in 60s)")
	}
	p.locked = false
}

// fresh reports whether a Ruby-format heartbeat is younger than PruneAfter by Redis's clock.
func (p *pruner) fresh(beat string) bool {
	t, err := parseHeartbeat(beat)
	return err == nil && p.v.now.Sub(t) < p.w.cfg.PruneAfter
}

// judge returns why worker id is dead, or "" when it is alive or not ours to judge, and
// whether settling it needs the prune lock (decisions any host could make).
func (p *pruner) judge(id string) (reason string, needLock bool, err error) {
	host, pidStr, _, ok := splitWorkerID(id)
	if !ok {
		return "", false, nil
	}
	if !p.w.sameHost(host) {
		return p.judgeRemote(id), true, nil
	}
	pid, perr := strconv.Atoi(pidStr)
	if perr != nil {
		return "", false, nil
	}
	return p.judgeLocal(id, host, pid)
}

// judgeRemote applies Ruby resque's rule to a worker of another host: dead when its
// heartbeat is stale. Without a heartbeat it is a php-resque worker, not ours to judge,
// unless it holds a goresque job while registered nowhere.
func (p *pruner) judgeRemote(id string) string {
	if beat, ok := p.v.beats[id]; ok {
		if p.fresh(beat) {
			return ""
		}
		return "its heartbeat is older than " + p.w.cfg.PruneAfter.String()
	}
	if p.v.inflightSet[id] && !p.v.registered[id] {
		// A job in goresque's in-flight hash under an id that is neither registered
		// nor beating: no live worker holds it (a live one registers before it
		// claims and beats until it unregisters).
		return "it is not registered and has no heartbeat, but holds a job"
	}
	return ""
}

// startSlack covers worker:<id>:started's one-second resolution: a worker registers after
// its process started, so a process that started more than this after the registration
// date is a newer process that reused the pid.
const startSlack = 2 * time.Second

// judgeLocal decides for a worker registered under this host name:
//
//   - goresque's own registrations from this pid namespace are judged by /proc alone: dead
//     when the pid is gone or was reused by a process started after the registration.
//   - a registration from another pid namespace (goresque:pidns differs: another container
//     sharing the host name) is alive while its heartbeat is fresh.
//   - other implementations' workers are alive when their pid's process started before
//     they registered, whatever its command line; a fresh Ruby heartbeat or node-resque
//     ping (worker:ping:<host:pid>) also means alive (the pid may live in another
//     namespace). Where neither /proc nor the start date can be read, php-resque's rule:
//     alive when the pid is a live process with "resque" in its command line.
func (p *pruner) judgeLocal(id, host string, pid int) (reason string, needLock bool, err error) {
	w := p.w
	ns, ours := p.v.ns[id]
	sameNS := ours && ns != "" && ns == w.cfg.pidNS
	beating := p.fresh(p.v.beats[id])
	if pid == w.cfg.pid {
		switch {
		case sameNS || !ours && !beating:
			if p.periodic {
				return "", false, nil // one of our own live slots, or judged at our start
			}
			return "a previous worker with this id (same host and pid) did not unregister", false, nil
		case beating:
			return "", false, nil // a live worker of another container with our host name and pid
		default:
			return "its heartbeat is older than " + w.cfg.PruneAfter.String() + " (registered from another pid namespace)", true, nil
		}
	}
	if ours && !sameNS {
		if beating {
			return "", false, nil
		}
		return "its heartbeat is older than " + w.cfg.PruneAfter.String() + " (registered from another pid namespace)", true, nil
	}
	foreignAlive := false
	if !ours {
		ping, err := p.nodePingFresh(host + ":" + strconv.Itoa(pid))
		if err != nil {
			return "", false, err
		}
		foreignAlive = beating || ping
	}
	gone := "its process " + strconv.Itoa(pid) + " is gone"
	if !p.procs.available {
		if p.procs.resquePID(pid) || foreignAlive {
			return "", false, nil
		}
		return gone, false, nil
	}
	pi := p.procs.info(pid)
	if !pi.exists {
		if foreignAlive {
			return "", false, nil // another pid namespace, or just died: its heartbeat will tell
		}
		return gone, false, nil
	}
	started, err := p.startedAt(id)
	if err != nil {
		return "", false, err
	}
	if !started.IsZero() && !pi.started.IsZero() {
		if !pi.started.After(started.Add(startSlack)) || foreignAlive {
			return "", false, nil
		}
		return "its pid " + strconv.Itoa(pid) + " belongs to a process started after the worker registered (pid reused)", false, nil
	}
	if p.procs.resquePID(pid) || foreignAlive {
		return "", false, nil
	}
	return "its process " + strconv.Itoa(pid) + " is not a resque worker", false, nil
}

// startedAt reads worker:<id>:started; zero when absent or unreadable.
func (p *pruner) startedAt(id string) (time.Time, error) {
	s, err := redis.String(p.conn.Do("GET", p.w.keys.WorkerStarted(id)))
	if errors.Is(err, redis.ErrNil) {
		return time.Time{}, nil
	}
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("prune: %w", err)
	}
	t, _ := parseStarted(s)
	return t, nil
}

// nodePingFresh reports whether node-resque's worker:ping:<name> is younger than PruneAfter.
func (p *pruner) nodePingFresh(name string) (bool, error) {
	b, err := redis.Bytes(p.conn.Do("GET", p.w.keys.NodePing(name)))
	if err != nil {
		var re redis.Error
		if errors.Is(err, redis.ErrNil) || errors.As(err, &re) {
			return false, nil
		}
		return false, fmt.Errorf("prune: %w", err)
	}
	var ping struct {
		Time int64 `json:"time"`
	}
	if json.Unmarshal(b, &ping) != nil || ping.Time == 0 {
		return false, nil
	}
	return p.v.now.Sub(time.Unix(ping.Time, 0)) < p.w.cfg.PruneAfter, nil
}

// pruneOne settles worker id: its in-flight job (if any) is failed or requeued (as the
// DeadJobs policy says, or requeued when requeue is set) and its keys removed, atomically,
// only if its in-flight record is still the one read here. A job another tool already
// recorded as a dirty exit is not recorded again.
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
		queue, err := w.exactQueue(conn, id, queue)
		if err != nil {
			return false, fmt.Errorf("prune %s: %w", id, err)
		}
		by, err := w.settledElsewhere(conn, id, payload)
		if err != nil {
			return false, fmt.Errorf("prune %s: %w", id, err)
		}
		now := w.cfg.now()
		status := StatusFailed
		switch {
		case by != "":
			log.Warn().Str("queue", queue).Msgf("worker is dead (%s); its job was already recorded as failed by another tool (%s), not recorded twice", reason, by)
		case (requeue || w.cfg.DeadJobs == RequeueDeadJobs) && queue != "" && len(payload) > 0:
			status = StatusWaiting
			payloadBack = string(payload)
			queueKey = w.keys.Queue(queue)
			log.Warn().Str("queue", queue).Msgf("worker is dead (%s); its job goes back to the head of the queue", reason)
		default:
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
		if job, err := decodePayload(queue, payload); by == "" && err == nil && job.ID != "" {
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
	if n == 1 {
		if _, err := conn.Do("HDEL", w.keys.PIDNamespaces(), id); err != nil {
			return true, fmt.Errorf("prune %s: %w", id, err)
		}
		if _, err := conn.Do("HDEL", w.keys.Handlers(), id); err != nil {
			return true, fmt.Errorf("prune %s: %w", id, err)
		}
	}
	return n == 1, nil
}

// exactQueue returns the queue name to requeue to with its exact bytes. goresque's record
// carries the queue as JSON, where a name that is not valid UTF-8 has been made valid
// (php-resque could not json_decode it otherwise); the worker id still holds the raw name
// (hostname:pid:q1,q2), and for QUEUE=* the `queues` set does.
func (w *Worker) exactQueue(conn redis.Conn, id, queue string) (string, error) {
	if !strings.ContainsRune(queue, '\uFFFD') {
		return queue, nil
	}
	_, _, qs, _ := splitWorkerID(id)
	names := strings.Split(qs, ",")
	if qs == "*" {
		var err error
		if names, err = redis.Strings(conn.Do("SMEMBERS", w.keys.Queues())); err != nil {
			return queue, fmt.Errorf("queues: %w", err)
		}
	}
	match := ""
	for _, q := range names {
		if q != queue && validUTF8(q) == queue {
			if match != "" {
				return queue, nil // ambiguous: keep what the record says
			}
			match = q
		}
	}
	if match != "" {
		return match, nil
	}
	return queue, nil
}

// dirtyExitExceptions are the exceptions other tools record when they settle the job of a
// worker they consider dead: Ruby resque's unregister_worker and heartbeat prune (also
// behind resque-web's "remove worker"), node-resque's forceCleanWorker / cleanOldWorkers,
// and php-resque's and goresque's own.
var dirtyExitExceptions = map[string]bool{
	"Resque::DirtyExit":                true,
	"Resque::PruneDeadWorkerDirtyExit": true,
	"Worker Timeout (killed manually)": true,
	ExceptionDirtyExit:                 true,
}

// failedTail is how many of the newest failure records settledElsewhere reads.
const failedTail = 100

// settledElsewhere returns the exception of a dirty-exit failure record that another tool
// already wrote for this worker's job (same worker, same payload once decoded: Ruby and
// node re-encode it), or "". php-resque's prune deletes worker:<id> without a record, so a
// job it dropped is not found here and is still recorded.
func (w *Worker) settledElsewhere(conn redis.Conn, id string, payload []byte) (string, error) {
	if len(payload) == 0 {
		return "", nil
	}
	var want any
	if dec := json.NewDecoder(bytes.NewReader(payload)); dec.Decode(&want) != nil {
		return "", nil
	}
	raws, err := redis.ByteSlices(conn.Do("LRANGE", w.keys.Failed(), -failedTail, -1))
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) {
			return "", nil // not a list: nothing to match, the prune reports the error
		}
		return "", err
	}
	host, pid, _, _ := splitWorkerID(id)
	for i := len(raws) - 1; i >= 0; i-- {
		var f struct {
			Worker    string          `json:"worker"`
			Exception string          `json:"exception"`
			Payload   json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(raws[i], &f) != nil || !dirtyExitExceptions[f.Exception] {
			continue
		}
		if f.Worker != id && f.Worker != host+":"+pid { // node-resque names workers host:pid
			continue
		}
		var got any
		if json.Unmarshal(f.Payload, &got) == nil && reflect.DeepEqual(got, want) {
			return f.Exception, nil
		}
	}
	return "", nil
}
