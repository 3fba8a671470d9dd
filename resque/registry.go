package resque

import (
	"fmt"
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
// registerWorker does (SADD workers, SET worker:<id>:started), writes a first heartbeat
// (Ruby resque 2.x) at the Redis server's time, and notes the pid namespace
// (goresque:pidns), all in one round trip whose every reply is checked: a worker started
// against a read-only replica must not say "starting" unregistered.
func (w *Worker) register(conn redis.Conn, ids []string) error {
	now, err := redisTime(conn)
	if err != nil {
		return fmt.Errorf("register workers: %w", err)
	}
	date := w.cfg.Dialect.date(w.cfg.now().In(w.cfg.Location))
	beat := phpjson.DateISO8601(now.In(w.cfg.Location))
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
		if err := conn.Send("HSET", w.keys.PIDNamespaces(), id, w.cfg.pidNS); err != nil {
			return err
		}
		if hc := w.handlerClasses(); hc != "" {
			if err := conn.Send("HSET", w.keys.Handlers(), id, hc); err != nil {
				return err
			}
		}
	}
	if _, err := pipelined(conn); err != nil {
		return fmt.Errorf("register workers: %w", err)
	}
	return nil
}

// unregister removes what register and the jobs left of a worker, as php-resque's
// unregisterWorker: SREM workers, DEL worker:<id>, :started, stat:processed:<id>,
// stat:failed:<id>; plus its heartbeat, pid namespace and Go handler list.
func (w *Worker) unregister(conn redis.Conn, ids []string) error {
	for _, id := range ids {
		for _, c := range [][]any{
			{"SREM", w.keys.Workers(), id},
			{"DEL", w.keys.Worker(id)},
			{"DEL", w.keys.WorkerStarted(id)},
			{"DEL", w.keys.WorkerStat("processed", id)},
			{"DEL", w.keys.WorkerStat("failed", id)},
			{"HDEL", w.keys.Heartbeats(), id},
			{"HDEL", w.keys.PIDNamespaces(), id},
			{"HDEL", w.keys.Handlers(), id},
		} {
			if err := conn.Send(c[0].(string), c[1:]...); err != nil {
				return err
			}
		}
	}
	if _, err := pipelined(conn); err != nil {
		return fmt.Errorf("unregister workers: %w", err)
	}
	return nil
}

// heartbeat writes the Redis server's time for every id into workers:heartbeat (Ruby
// resque's heartbeat!, which also uses server time), and registers again the ids whose
// registration vanished: a Redis restarted without persistence, FLUSHALL, a failover to an
// empty replica, or another tool (Ruby's prune, resque-web's "remove") deleting it. An
// unregistered worker is invisible to `workers` and stats, and any host may prune it
// mid-job. The re-registration is logged once per disappearance.
func (w *Worker) heartbeat(conn redis.Conn, ids []string) error {
	now, err := redisTime(conn)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	for _, id := range ids {
		if err := conn.Send("SISMEMBER", w.keys.Workers(), id); err != nil {
			return err
		}
	}
	beat := phpjson.DateISO8601(now.In(w.cfg.Location))
	args := []any{w.keys.Heartbeats()}
	for _, id := range ids {
		args = append(args, id, beat)
	}
	if err := conn.Send("HSET", args...); err != nil {
		return err
	}
	replies, err := pipelined(conn)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	var missing []string
	for i, id := range ids {
		if n, _ := redis.Int(replies[i], nil); n == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := w.register(conn, missing); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	w.log.Warn().Strs("ids", missing).Msg("worker registration had vanished from Redis (data lost, FLUSHALL, or removed by another tool); registered again")
	return nil
}

// resolveCollision picks a distinct worker id when another live process already uses
// this one. With host networking (Docker --network host, Kubernetes hostNetwork) containers
// on one node share the host name, and goresque as each container's pid 1 computes the same
// hostname:1:queues. A registration under our own id is normally a previous run of this
// process that died without unregistering; it is another live worker when its heartbeat
// is fresh and it was registered from another pid namespace. Then this worker takes the
// host part hostname_i<k> (still host:pid:queues, like the slot ids, and no real host name
// contains "_") and says why.
func (w *Worker) resolveCollision(conn redis.Conn) error {
	for k := 2; ; k++ {
		busy, err := w.idTaken(conn, w.ids)
		if err != nil {
			return err
		}
		if busy == "" {
			return nil
		}
		if k > 99 {
			return fmt.Errorf("worker ids %s to %s are all in use by live workers", busy, w.ids[0])
		}
		host := w.cfg.Hostname + "_i" + strconv.Itoa(k)
		ids := make([]string, len(w.ids))
		for i := range ids {
			ids[i] = workerID(host, i, w.cfg.pid, w.cfg.Queues)
		}
		w.log.Warn().Str("taken", busy).Str("id", ids[0]).Msg("another live worker (fresh heartbeat, other pid namespace) uses this worker id: " +
			"containers sharing a host name (host networking)? registering under a distinct id")
		w.setIDs(ids)
	}
}

// idTaken returns the first of ids that a live process in another pid namespace holds.
func (w *Worker) idTaken(conn redis.Conn, ids []string) (string, error) {
	now, err := redisTime(conn)
	if err != nil {
		return "", fmt.Errorf("worker id: %w", err)
	}
	for _, id := range ids {
		if err := conn.Send("HGET", w.keys.Heartbeats(), id); err != nil {
			return "", err
		}
		if err := conn.Send("HGET", w.keys.PIDNamespaces(), id); err != nil {
			return "", err
		}
	}
	replies, err := pipelined(conn)
	if err != nil {
		return "", fmt.Errorf("worker id: %w", err)
	}
	for i, id := range ids {
		beat, _ := redis.String(replies[2*i], nil)
		ns, _ := redis.String(replies[2*i+1], nil)
		if ns == w.cfg.pidNS && ns != "" {
			continue // our own previous run (same pid, same namespace): dead, pruned next
		}
		if t, err := parseHeartbeat(beat); err == nil && now.Sub(t) < w.cfg.PruneAfter {
			return id, nil
		}
	}
	return "", nil
}

// setIDs replaces the worker ids before the worker registers (resolveCollision).
func (w *Worker) setIDs(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids = ids
	w.log = w.cfg.Logger.With().Str("worker", ids[0]).Logger()
}

// sameHost reports whether host is this worker's host name or one goresque derives from it:
// hostname_<n> (slot n), hostname_i<k> and hostname_i<k>_<n> (a distinct id picked on a
// host-name collision, see resolveCollision).
func (w *Worker) sameHost(host string) bool {
	rest, ok := strings.CutPrefix(host, w.cfg.Hostname)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	if r, ok := strings.CutPrefix(rest, "_i"); ok {
		k, slot, _ := strings.Cut(r, "_")
		return isDigits(k) && (slot == "" && !strings.Contains(r, "_") || isDigits(slot))
	}
	r, ok := strings.CutPrefix(rest, "_")
	return ok && isDigits(r)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseHeartbeat(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05 -0700", "2006/01/02 15:04:05 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable heartbeat %q", s)
}
