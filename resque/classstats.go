package resque

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Per-class statistics. php-resque keeps only the global stat:processed/stat:failed and the
// per-worker counters; a team porting classes to Go needs, per class and per side (Go
// handler or PHP bridge), how many jobs ran, how many failed and how long they took. They
// live in goresque's own keys (Keys.Classes, Keys.Class), never in php-resque's.
//
// The per-job path does no Redis work: each job adds to an in-memory table (classStats),
// and the worker flushes the table's deltas in one script call at most once per
// classStatsEvery and once when it stops. A crash loses at most the last interval of
// statistics, never a job.
const (
	// DefaultClassStatsLimit is how many classes the statistics keep when Config.ClassStats
	// is zero: the classes seen least recently are dropped beyond it.
	DefaultClassStatsLimit = 1000
	// classStatsTTL expires a class's hash (and the index) that no worker touched for this
	// long; every flush refreshes it.
	classStatsTTL = 30 * 24 * time.Hour
	// classStatsEvery is how often a worker writes its statistics, and
	// classStatsFlushTimeout the longest a write may take.
	classStatsEvery        = time.Second
	classStatsFlushTimeout = 2 * time.Second
	// durationBuckets is the number of histogram buckets: see durationBucket.
	durationBuckets = 1 + 4*40
)

// durationBucket maps a duration in µs to a quarter-octave bucket: bucket 0 holds 0 µs,
// bucket 1+4e+q holds [2^e·(1+q/4), 2^e·(1+(q+1)/4)) µs. A bucket is at most 25% wide
// relative to its lower bound, so a percentile read from the histogram (Percentile) is off
// by less than 25%. Durations past 2^40 µs (12 days) share the last bucket.
func durationBucket(us int64) int {
	if us <= 0 {
		return 0
	}
	e := bits.Len64(uint64(us)) - 1
	var q int
	if e >= 2 {
		q = int(uint64(us)>>(e-2)) & 3
	} else {
		q = int(uint64(us)<<(2-e)) & 3
	}
	return min(1+4*e+q, durationBuckets-1)
}

// bucketBounds returns the µs range [lo, hi) of bucket b.
func bucketBounds(b int) (lo, hi float64) {
	if b <= 0 {
		return 0, 1
	}
	e, q := (b-1)/4, (b-1)%4
	p := float64(uint64(1) << e)
	return p * (1 + float64(q)/4), p * (1 + float64(q+1)/4)
}

// classImpl is one row of the in-memory table.
type classImpl struct {
	class, impl string
}

// classDelta is what a worker saw of one (class, implementation) since its last flush.
type classDelta struct {
	jobs, failed, us int64
	last             int64 // unix seconds
	buckets          map[int]int64
	name             string // a spelling of the class (mergeSpellings)
}

// mergeSpellings adds up the rows of one class spelled several ways (PHP finds
// `\App\Jobs\A` and `app\jobs\a` alike): the result is keyed by classKey, the name PHP
// looks a class up by, and keeps one spelling as the name to show. The per-job path keys
// by the spelling as it comes, so it never lower-cases (and allocates) a name.
func mergeSpellings(rows map[classImpl]*classDelta) map[classImpl]*classDelta {
	out := make(map[classImpl]*classDelta, len(rows))
	for k, d := range rows {
		ck := classImpl{classKey(k.class), k.impl}
		m := out[ck]
		if m == nil {
			d.name = strings.TrimPrefix(k.class, `\`)
			out[ck] = d
			continue
		}
		m.jobs += d.jobs
		m.failed += d.failed
		m.us += d.us
		m.last = max(m.last, d.last)
		for b, n := range d.buckets {
			m.buckets[b] += n
		}
		if name := strings.TrimPrefix(k.class, `\`); name < m.name {
			m.name = name // the same spelling whatever the map order
		}
	}
	return out
}

// classStats is a Worker's in-memory table of per-class statistics not written yet. Its
// size is bounded by limit rows; the jobs of further classes before the next flush are
// counted in dropped and logged (and the flush is brought forward).
type classStats struct {
	limit int
	kick  chan struct{} // a full table asks the flusher to write now

	mu      sync.Mutex
	rows    map[classImpl]*classDelta
	dropped int64
}

func newClassStats(limit int) *classStats {
	return &classStats{limit: limit, kick: make(chan struct{}, 1), rows: make(map[classImpl]*classDelta)}
}

// record adds one job: its class, the implementation that ran it, how long it took and
// whether it failed. It is called on every job and takes one short lock.
func (s *classStats) record(class, impl string, took time.Duration, failed bool, now time.Time) {
	k := classImpl{class, impl}
	s.mu.Lock()
	d := s.rows[k]
	if d == nil {
		if len(s.rows) >= s.limit {
			s.dropped++
			s.mu.Unlock()
			select {
			case s.kick <- struct{}{}:
			default:
			}
			return
		}
		d = &classDelta{buckets: make(map[int]int64, 2)}
		s.rows[k] = d
	}
	us := took.Microseconds()
	d.jobs++
	if failed {
		d.failed++
	}
	d.us += us
	d.buckets[durationBucket(us)]++
	d.last = now.Unix()
	s.mu.Unlock()
}

// take empties the table and returns what it held.
func (s *classStats) take() (map[classImpl]*classDelta, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, dropped := s.rows, s.dropped
	if len(rows) == 0 {
		rows = nil // s.rows stays in use
	} else {
		s.rows = make(map[classImpl]*classDelta, len(rows))
	}
	s.dropped = 0
	return rows, dropped
}

// classStatsLoop writes the statistics every classStatsEvery, or sooner when the table is
// full, until ctx is done. The last write happens in flushClassStats at the stop. It holds
// its connection from one write to the next, as a slot does: a connection put back in the
// pool every second would sit there idle when an outage kills the connections, and the
// next slot to take it would meet the outage a second time.
func (w *Worker) classStatsLoop(ctx context.Context) {
	t := time.NewTicker(classStatsEvery)
	defer t.Stop()
	var conn redis.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.stats.kick:
		}
		// Not bound to ctx: a stop must not cut a write short and lose the rows it took.
		// Nor to the lifecycle's budget, which a long outage would spend before the running
		// jobs' outcomes need it. A hung Redis delays the stop by classStatsFlushTimeout at
		// most.
		fctx, cancel := context.WithTimeout(context.Background(), classStatsFlushTimeout)
		err := w.flushClassStats(fctx, &conn)
		cancel()
		if err != nil {
			w.log.Debug().Err(err).Msg("class statistics not written (they are dropped)")
		}
	}
}

// flushClassStats writes the table's deltas in one script call (classStatsScript): per row
// HINCRBY of <impl>:jobs, :failed, :us and the histogram buckets, HSET <impl>:last, ZADD to
// the index with the time last seen, EXPIRE; then trims the index to the limit, dropping the
// classes seen least recently with their hashes (a second round trip, only when over).
// Deltas that could not be written are dropped, not retried: a reply lost after Redis
// applied them would count them twice. *held is the connection to use, taken from the
// pool when nil, closed and set to nil after an error; the caller closes it at the end.
func (w *Worker) flushClassStats(ctx context.Context, held *redis.Conn) error {
	if w.stats == nil {
		return nil
	}
	rows, dropped := w.stats.take()
	if dropped > 0 {
		w.log.Warn().Int64("jobs", dropped).Int("limit", w.stats.limit).Msg("per-class statistics: more classes than the limit between two writes; these jobs were not counted")
	}
	if len(rows) == 0 {
		return nil
	}
	if *held == nil {
		pc, err := w.pool.GetContext(ctx)
		if err != nil {
			return fmt.Errorf("class statistics: %w", err)
		}
		*held = pc
	}
	err := w.writeClassStats(ctxConn{*held, ctx}, rows)
	if err != nil {
		(*held).Close()
		*held = nil
	}
	return err
}

// classStatsScript writes a flush's rows in one call, so that a worker's statistics cost
// Redis one command per second whatever the number of classes (a pipeline of HINCRBYs
// counted as many calls in a fleet's round trips as the jobs themselves at light load).
//
//	KEYS[1]  the index (Keys.Classes)
//	KEYS[2…] one class hash (Keys.Class) per row, in the order of the rows in ARGV
//	ARGV[1]  the expiry, in seconds, of each hash and of the index
//	then per row: the class (the index member), its name to show, the time last seen
//	(Unix seconds), n, then n pairs of field and increment
//
// A class's last seen time (the hash's <impl>:last and the index score: ZADD GT) only goes
// up, so a worker writing late never makes a class look older than another worker saw it.
// Returns the size of the index.
var classStatsScript = redis.NewScript(-1, `
local ttl = ARGV[1]
local i = 2
for r = 2, #KEYS do
  local key = KEYS[r]
  local class, name, lf, last, n = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], tonumber(ARGV[i+4])
  i = i + 5
  redis.call('HSET', key, 'name', name)
  if (tonumber(redis.call('HGET', key, lf)) or 0) < tonumber(last) then
    redis.call('HSET', key, lf, last)
  end
  for j = 1, n do
    redis.call('HINCRBY', key, ARGV[i], ARGV[i+1])
    i = i + 2
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('ZADD', KEYS[1], 'GT', last, class)
end
redis.call('EXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`)

// writeClassStats is flushClassStats's call on conn (and the trim, when over the limit).
func (w *Worker) writeClassStats(conn redis.Conn, rows map[classImpl]*classDelta) error {
	keys := []any{w.keys.Classes()}
	argv := []any{int64(classStatsTTL / time.Second)}
	for k, d := range mergeSpellings(rows) {
		p := k.impl + ":"
		keys = append(keys, w.keys.Class(k.class))
		argv = append(argv, k.class, d.name, p+"last", d.last, 3+len(d.buckets),
			p+"jobs", d.jobs, p+"failed", d.failed, p+"us", d.us)
		for b, n := range d.buckets {
			argv = append(argv, p+"b"+strconv.Itoa(b), n)
		}
	}
	n, err := redis.Int(classStatsScript.Do(conn, append(append([]any{len(keys)}, keys...), argv...)...))
	if err != nil {
		return fmt.Errorf("class statistics: %w", err)
	}
	if over := n - w.stats.limit; over > 0 {
		return w.trimClassStats(conn, over)
	}
	return nil
}

// trimClassStats drops the over classes seen least recently: ZPOPMIN takes each from the
// index exactly once, even with several workers trimming at once, and its hash goes with
// it. A hash whose DEL is lost expires anyway.
func (w *Worker) trimClassStats(conn redis.Conn, over int) error {
	popped, err := redis.Strings(conn.Do("ZPOPMIN", w.keys.Classes(), over))
	if err != nil {
		return fmt.Errorf("class statistics: trim: %w", err)
	}
	var keys []any
	for i := 0; i < len(popped); i += 2 {
		keys = append(keys, w.keys.Class(popped[i]))
	}
	if len(keys) == 0 {
		return nil
	}
	if _, err := conn.Do("DEL", keys...); err != nil {
		return fmt.Errorf("class statistics: trim: %w", err)
	}
	return nil
}

// handlerClasses is the JSON list of the classes the worker's Mux has Go handlers for,
// stored at registration under Keys.Handlers so that `goresque classes` knows which
// classes a live worker has ported; "" when the Handler is not a *Mux.
func (w *Worker) handlerClasses() string {
	m, ok := w.cfg.Handler.(*Mux)
	if !ok {
		return ""
	}
	b, err := json.Marshal(append([]string{}, m.names...))
	if err != nil {
		return ""
	}
	return string(b)
}
