package resque

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

// Worker takes jobs from php-resque queues and performs them, writing exactly the Redis
// records a php-resque worker writes (Resque_Worker::work): registration, the "working on"
// record, status, failures, stats and unregistration.
//
// A Worker runs Config.Concurrency slots in this process; each slot is a php-resque worker
// with its own id. Run blocks until the worker stops. The control methods (Shutdown,
// ShutdownNow, KillJob, Pause, Resume) map php-resque's signals and are safe to call from
// any goroutine; the program, not this package, decides which signal calls which.
type Worker struct {
	pool *redis.Pool
	cfg  Config
	keys Keys
	log  zerolog.Logger
	ids  []string
	life *lifecycle

	mu      sync.Mutex
	slots   []*slot
	running atomic.Bool
	// slotsDone counts the slot goroutines still running, including those Run left behind
	// in a handler that ignored its cancelled context (tests wait for them).
	slotsDone sync.WaitGroup

	watch  *watcher  // Blocking mode only
	wild   *wildcard // QUEUE=* only
	routes routeState
	link   *link
	// startDelay is how long a job's start may wait to be carried by its outcome
	// (startDelay; shorter or longer in tests).
	startDelay time.Duration
	stats      *classStats // nil when Config.ClassStats < 0
	// batch carries the slots' script calls on one connection (group commit); nil with
	// one slot, which keeps its own connection.
	batch *batcher
}

// NewWorker checks cfg and returns a Worker that uses pool. The caller owns the pool; the
// worker holds one connection for the slots' scripts (batcher; a lone slot's own), one for
// heartbeats, one per queue in Blocking mode, and now and then one per slot for a call
// outside the scripts (the routing rules, resuming a claimed job) while it runs.
func NewWorker(pool *redis.Pool, cfg Config) (*Worker, error) {
	if pool == nil {
		return nil, errors.New("resque: NewWorker needs a redis pool")
	}
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	w := &Worker{pool: pool, cfg: cfg, keys: NewKeys(cfg.Namespace), life: newLifecycle(), startDelay: startDelay}
	for i := 0; i < cfg.Concurrency; i++ {
		w.ids = append(w.ids, workerID(cfg.Hostname, i, cfg.pid, cfg.Queues))
	}
	w.log = cfg.Logger.With().Str("worker", w.ids[0]).Logger()
	if len(cfg.Queues) == 1 && cfg.Queues[0] == "*" {
		w.wild = newWildcard(w)
	}
	w.link = &link{log: w.log, obs: cfg.Observer, slowAfter: slowReply}
	if cfg.ClassStats > 0 {
		w.stats = newClassStats(cfg.ClassStats)
	}
	return w, nil
}

// IDs returns the worker ids of the slots, slot 0 first.
func (w *Worker) IDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.ids...)
}

// Keys returns the key builder the worker uses.
func (w *Worker) Keys() Keys { return w.keys }

// Shutdown stops taking jobs and lets running jobs finish, then Run unregisters and
// returns: php-resque's SIGQUIT. With Config.ShutdownTimeout set, jobs still running when
// it expires are stopped as by ShutdownNow.
func (w *Worker) Shutdown() {
	if w.life.stop() {
		w.log.Info().Msg("shutting down: finishing running jobs")
		if d := w.cfg.ShutdownTimeout; d > 0 {
			time.AfterFunc(d, func() {
				w.ShutdownNow(fmt.Errorf("graceful shutdown timed out after %v", d))
			})
		}
	}
}

// ShutdownNow stops at once: running jobs are cancelled (their context is done with cause)
// and recorded as failed (Resque_Job_DirtyExitException), then Run unregisters and
// returns: php-resque's SIGTERM and SIGINT. A nil cause reads "worker shut down".
func (w *Worker) ShutdownNow(cause error) {
	if cause == nil {
		cause = errors.New("worker shut down")
	}
	w.life.stop()
	if w.life.stopNow(cause) {
		w.log.Info().Msgf("shutting down now: %v", cause)
	}
	w.KillJob(cause)
}

// KillJob cancels the jobs running now, which are recorded as failed; the worker goes on
// with the next job: php-resque's SIGUSR1.
func (w *Worker) KillJob(cause error) {
	if cause == nil {
		cause = errors.New("job killed")
	}
	w.mu.Lock()
	slots := w.slots
	w.mu.Unlock()
	for _, s := range slots {
		s.exec.kill(cause)
	}
}

// Pause stops taking new jobs; running jobs finish: php-resque's SIGUSR2.
//
// Pause does not wait: "paused" is logged once the claims already on their way to Redis
// have been answered (a job one of them took runs), so that after the log line no job
// is taken until Resume.
func (w *Worker) Pause() {
	switch first, waiting := w.life.pause(); {
	case !first:
	case waiting:
		w.log.Info().Msg("pausing: waiting for the claims in flight")
	default:
		w.logPaused()
	}
}

func (w *Worker) logPaused() { w.log.Info().Msg("paused: no new jobs until resumed (SIGCONT)") }

// Resume undoes Pause: php-resque's SIGCONT.
func (w *Worker) Resume() {
	if w.life.resume() {
		w.log.Info().Msg("resumed")
	}
}

// Run registers the worker, performs jobs until Shutdown or ShutdownNow (or ctx is done,
// which acts as ShutdownNow), then unregisters. It returns an error when Redis cannot be
// reached at start or the worker cannot register; once running, lost connections are
// retried with backoff and do not end Run. Run can be called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("resque: Worker.Run called twice")
	}
	stop := context.AfterFunc(ctx, func() { w.ShutdownNow(context.Cause(ctx)) })
	defer stop()
	defer w.life.stopNow(errors.New("worker stopped"))

	conn, err := w.dialAtStart(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := w.prepare(ctx, conn); err != nil {
		return err
	}
	if err := w.register(conn, w.ids); err != nil {
		return fmt.Errorf("resque: %w", err)
	}
	w.log.Info().Strs("queues", w.cfg.Queues).Int("concurrency", w.cfg.Concurrency).
		Bool("blocking", w.cfg.Blocking).Str("dialect", w.cfg.Dialect.String()).
		Msg("starting worker " + w.ids[0])

	slots := w.work()
	err = w.unregisterSettled(slots)
	// The last statistics, after what matters more and within the same budget for Redis
	// writes: once it is spent, this gives up at once.
	fctx := w.life.begin()
	var fconn redis.Conn
	ferr := w.flushClassStats(fctx, &fconn)
	if fconn != nil {
		fconn.Close()
	}
	w.life.end(ferr == nil)
	if ferr != nil {
		w.log.Warn().Err(ferr).Msg("the last second of per-class statistics was not written")
	}
	return err
}

// dialAtStart returns a connection that answered PING. Two tries: a pooled connection may
// have been broken by a Redis restart.
func (w *Worker) dialAtStart(ctx context.Context) (redis.Conn, error) {
	for try := 0; ; try++ {
		c, err := w.pool.GetContext(ctx)
		if err == nil {
			if _, err = c.Do("PING"); err == nil {
				return c, nil
			}
			c.Close()
		}
		if try == 1 {
			return nil, fmt.Errorf("resque: connect to redis: %w", err)
		}
	}
}

// prepare readies what the slots need: the watcher in Blocking mode, the scripts, and the
// prune of dead workers php-resque runs at start.
func (w *Worker) prepare(ctx context.Context, conn redis.Conn) error {
	if w.cfg.Blocking {
		if ok, version := supportsBLMOVE(conn); ok {
			w.watch = newWatcher(w)
		} else {
			w.log.Warn().Msgf("BLOCKING needs Redis 6.2 or newer for an atomic claim (this is %s); polling every %v instead", version, w.cfg.Interval)
		}
	}
	if err := loadScripts(conn); err != nil {
		return fmt.Errorf("resque: load scripts: %w", err)
	}
	if err := w.resolveCollision(conn); err != nil {
		return fmt.Errorf("resque: %w", err)
	}
	if n, err := w.pruneDeadWorkers(ctx, conn, nil); err != nil {
		return fmt.Errorf("resque: %w", err)
	} else if n > 0 {
		w.log.Info().Int("pruned", n).Msg("pruned dead workers")
	}
	return nil
}

// work runs the slots and the heartbeat until every slot is gone, and returns the slots.
func (w *Worker) work() []*slot {
	w.mu.Lock()
	for i, id := range w.ids {
		w.slots = append(w.slots, newSlot(w, i, id))
	}
	slots := w.slots
	w.mu.Unlock()

	bgCtx, bgStop := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); w.heartbeatLoop(bgCtx) }()
	if w.stats != nil {
		bg.Add(1)
		go func() { defer bg.Done(); w.classStatsLoop(bgCtx) }()
	}

	if len(slots) > 1 {
		w.batch = newBatcher(w)
		bg.Add(1)
		go func() { defer bg.Done(); w.batch.loop(bgCtx) }()
	}
	for _, s := range slots {
		w.slotsDone.Add(1)
		go func() {
			defer w.slotsDone.Done()
			defer s.markGone()
			s.run()
		}()
	}
	for _, s := range slots {
		<-s.gone // a slot whose job was abandoned after a kill counts as gone
	}
	bgStop()
	bg.Wait()
	if w.watch != nil {
		w.watch.close()
	}
	return slots
}

// unregisterSettled unregisters the slots that hold no job. A slot whose result could not
// be written (Redis unreachable at the end) keeps its registration and in-flight record, so
// the next prune settles the job instead of losing it. A slot may also hold a job it never
// heard of: a claim whose reply was lost just before the stop. That job never ran: it goes
// back to the head of its queue.
func (w *Worker) unregisterSettled(slots []*slot) error {
	var clean []string
	for _, s := range slots {
		if s.exec.settled() {
			clean = append(clean, s.id)
		}
	}
	if len(clean) > 0 {
		ctx := w.life.begin()
		err := w.link.retry(ctx, func() error {
			pc, err := w.pool.GetContext(ctx)
			if err != nil {
				return err
			}
			defer pc.Close()
			c := ctxConn{pc, ctx}
			if err := loadScripts(c); err != nil {
				return err
			}
			for _, id := range clean {
				if n, err := redis.Int(c.Do("HEXISTS", w.keys.InFlight(), id)); err != nil {
					return err
				} else if n == 1 {
					if _, err := w.pruneOne(c, id, "worker "+id+" stopped holding a job it had claimed but not started", true); err != nil {
						return err
					}
				}
			}
			return w.unregister(c, clean)
		})
		w.life.end(err == nil)
		if err != nil {
			return fmt.Errorf("resque: %w", err)
		}
	}
	if len(clean) < len(slots) {
		return errors.New("resque: stopped with job results unwritten (Redis unreachable); the next worker start records them")
	}
	w.log.Info().Msg("worker stopped")
	return nil
}

func (w *Worker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	skip := map[string]bool{}
	for _, id := range w.ids {
		skip[id] = true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := w.pool.GetContext(ctx)
		if err != nil {
			continue
		}
		// Bound to ctx: Run cancels it at the end, and a hung Redis must not hold the stop.
		cc := ctxConn{c, ctx}
		err = w.heartbeat(cc, w.ids)
		if err == nil {
			_, err = w.pruneDeadWorkers(ctx, cc, skip)
		}
		c.Close()
		if err != nil {
			w.log.Debug().Err(err).Msg("heartbeat")
		}
	}
}

// supportsBLMOVE reports whether the server has BLMOVE (Redis 6.2+).
func supportsBLMOVE(conn redis.Conn) (bool, string) {
	info, err := redis.String(conn.Do("INFO", "server"))
	if err != nil {
		return false, "unknown"
	}
	version := "unknown"
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			version = v
		}
	}
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false, version
	}
	return major > 6 || major == 6 && minor >= 2, version
}

func sha1hex(b []byte) string {
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:])
}
