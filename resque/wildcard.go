package resque

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// wildcard is the QUEUE=* list of a Worker, shared by its slots.
//
// php-resque's Resque_Worker::queues() reads the `queues` set and sorts it with PHP's sort()
// before every reservation, and reserve() then tries LPOP on each queue in that order: with
// thousands of queues, every job costs thousands of calls, nearly all on empty queues, and
// every idle poll of every worker as many again. goresque keeps the order (the set sorted
// as PHP sorts it) and the rule (the job comes from the first queue in that order that has
// one), but pays for the empty queues once per scan instead of once per claim:
//
//   - With at most wildcardSmall queues, every claim tries all of them, as php-resque does.
//   - With more, a scan (SMEMBERS, then EXISTS over chunks of queue keys, LLEN where a chunk has any) finds the queues that
//     hold jobs. Claims try only those, in priority order and at most wildcardBatch at a
//     time, and forget each one a claim finds empty. The next scan runs when claims have
//     emptied every queue the last scan found; when the last scan is older than
//     Config.Interval while jobs are being taken (so a job pushed to a queue that was empty
//     waits at most about one Interval, where php-resque would find it at the next job);
//     and, while idle, at most once per Interval (once per second with BLOCKING, which
//     does not watch more than wildcardSmall queues), for the whole Worker, not per slot.
//   - Every claim compares the size of the set (SCARD, in cycleScript) with the list's: a
//     queue added or removed (Resque::removeQueue) makes the next claim scan again.
//
// A scan runs on a connection of its own, holding mu, so the slots wait for one scan
// instead of each running its own.
type wildcard struct {
	w       *Worker
	idleGap time.Duration // the shortest time between two scans that found nothing

	mu      sync.Mutex
	names   []string // the set's members, sorted as PHP's sort() sorts them
	keys    []any    // queue:<name> of each name
	heads   []string // the in-flight record head {"queue":"<name>" of each name
	index   map[string]int
	card    string        // len(names), for cycleScript's staleness check
	live    []int         // positions in names of the queues the last scan found jobs in, in order
	gen     uint64        // the scan live comes from
	scanned time.Time     // zero: scan at the next claim
	listed  time.Time     // when names was read; zero: read it at the next scan
	drained bool          // claims emptied live: scan at the next claim
	found   chan struct{} // closed when a scan finds jobs, to wake the idle slots
	broken  map[string]bool
}

// wildcardSmall is the size up to which every claim tries every queue of the set, as
// php-resque does: a claim's cost then stays below that of a few jobs.
const wildcardSmall = 32

// wildcardBatch is the most queues one claim tries when the set is larger.
const wildcardBatch = 16

// scanChunk is the number of keys of one EXISTS of a scan.
const scanChunk = 64

func newWildcard(w *Worker) *wildcard {
	gap := w.cfg.Interval
	if w.cfg.Blocking {
		gap = min(gap, time.Second)
	}
	return &wildcard{w: w, idleGap: gap, found: make(chan struct{}), index: map[string]int{}}
}

// wildcardPick is what one claim of a slot tries: positions in the list of scan gen.
type wildcardPick struct {
	gen   uint64
	pos   []int
	small bool          // every queue of the set
	found chan struct{} // the scan's wake-up channel, for idle
}

// fill sets the queues slot s claims from next (s.queues, the keys and heads of s.args,
// and the set size ARGV[12]), scanning first when it is time to.
func (t *wildcard) fill(ctx context.Context, s *slot) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.scanDue(now) {
		if err := t.scan(ctx, now); err != nil {
			t.scanned, t.listed = time.Time{}, time.Time{}
			return err
		}
	}
	p := &s.pick
	p.gen, p.small, p.found, p.pos = t.gen, len(t.names) <= wildcardSmall, t.found, p.pos[:0]
	if p.small {
		for i := range t.names {
			p.pos = append(p.pos, i)
		}
	} else {
		p.pos = append(p.pos, t.live[:min(len(t.live), wildcardBatch)]...)
	}
	s.queues, s.args.queueKeys, s.args.heads = s.queues[:0], s.args.queueKeys[:0], s.args.heads[:0]
	for _, i := range p.pos {
		s.queues = append(s.queues, t.names[i])
		s.args.queueKeys = append(s.args.queueKeys, t.keys[i])
		s.args.heads = append(s.args.heads, t.heads[i])
	}
	s.args.card = t.card
	return nil
}

func (t *wildcard) scanDue(now time.Time) bool {
	switch {
	case t.scanned.IsZero() || t.drained:
		return true
	case len(t.names) <= wildcardSmall || len(t.live) > 0:
		return now.Sub(t.scanned) >= t.w.cfg.Interval
	default:
		return now.Sub(t.scanned) >= t.idleGap
	}
}

// scan re-reads the set and, when it is larger than wildcardSmall, finds the queues that
// have jobs. Called with mu held.
func (t *wildcard) scan(ctx context.Context, now time.Time) error {
	pc, err := t.w.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer pc.Close()
	// The set is read again when its size changed (stale) and at most once per Interval
	// (or second) otherwise, for a queue removed and another added between two claims.
	if t.listed.IsZero() || now.Sub(t.listed) >= max(t.w.cfg.Interval, time.Second) {
		set := t.w.keys.Queues()
		members, err := redis.Strings(doContext(pc, ctx, "SMEMBERS", set))
		if err != nil {
			return fmt.Errorf("resque: QUEUE=*: read %s: %w", set, err)
		}
		t.setNames(members)
		t.listed = now
	}
	t.gen++
	t.live = t.live[:0]
	t.scanned, t.drained = now, false
	if len(t.names) <= wildcardSmall {
		return nil
	}
	// Nearly all queues are empty, and Redis deletes an empty list: one EXISTS over
	// scanChunk keys costs a lookup per key where a command per key costs a parse and a
	// reply each. LLEN then runs on the keys of the chunks that have any, to tell lists
	// with jobs from keys of another type.
	for i := 0; i < len(t.keys); i += scanChunk {
		if err := pc.Send("EXISTS", t.keys[i:min(i+scanChunk, len(t.keys))]...); err != nil {
			return err
		}
	}
	counts, err := redis.Ints(doContext(pc, ctx, ""))
	if err != nil {
		return fmt.Errorf("resque: QUEUE=*: scan the queues: %w", err)
	}
	var probed []int
	for c, n := range counts {
		if n == 0 {
			continue
		}
		for i := c * scanChunk; i < min((c+1)*scanChunk, len(t.keys)); i++ {
			if err := pc.Send("LLEN", t.keys[i]); err != nil {
				return err
			}
			probed = append(probed, i)
		}
	}
	if len(probed) == 0 {
		return nil
	}
	replies, err := redis.Values(doContext(pc, ctx, ""))
	if err != nil {
		return fmt.Errorf("resque: QUEUE=*: scan the queues: %w", err)
	}
	for j, r := range replies {
		i := probed[j]
		switch v := r.(type) {
		case int64:
			if v > 0 {
				t.live = append(t.live, i)
			}
		case redis.Error: // not a list: skipped, as cycleScript skips it
			t.brokenOnce(t.keys[i].(string), v)
		}
	}
	if len(t.live) > 0 {
		close(t.found)
		t.found = make(chan struct{})
	}
	return nil
}

// setNames makes members the list, sorted, unless it already is.
func (t *wildcard) setNames(members []string) {
	if len(members) == len(t.names) {
		same := true
		for _, m := range members {
			if _, ok := t.index[m]; !ok {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	sortQueuesPHP(members)
	t.names = members
	t.keys, t.heads = t.keys[:0], t.heads[:0]
	clear(t.index)
	for i, q := range members {
		t.keys = append(t.keys, t.w.keys.Queue(q))
		h, _ := phpjson.AppendString([]byte(`{"queue":`), validUTF8(q))
		t.heads = append(t.heads, string(h))
		t.index[q] = i
	}
	t.card = itoa(len(members))
}

func (t *wildcard) brokenOnce(key string, err error) {
	if t.broken == nil {
		t.broken = map[string]bool{}
	}
	if t.broken[key] || len(t.broken) > 100 {
		return
	}
	t.broken[key] = true
	t.w.log.Error().Str("queue", key).Err(err).Msg("QUEUE=*: a queue key that is not a list is skipped (logged once)")
}

// claimed tells t what a claim of pick p found: the queues it tried before the one it took
// a job from (all of them when it took none) were empty. It reports whether that left no
// known queue with jobs, in which case the caller claims again at once (after a new scan).
func (t *wildcard) claimed(p *wildcardPick, took int) (drained bool) {
	if p.small || len(p.pos) == 0 {
		return false
	}
	empty := p.pos
	if took >= 0 {
		empty = p.pos[:took]
	}
	if len(empty) == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.gen != t.gen || len(t.live) == 0 {
		return false
	}
	live := t.live[:0]
	j := 0
	for _, i := range t.live {
		for j < len(empty) && empty[j] < i {
			j++
		}
		if j < len(empty) && empty[j] == i {
			continue
		}
		live = append(live, i)
	}
	t.live = live
	t.drained = len(live) == 0
	return t.drained
}

// stale is told that the set changed size: the next claim scans.
func (t *wildcard) stale() {
	t.mu.Lock()
	t.scanned, t.listed = time.Time{}, time.Time{}
	t.mu.Unlock()
}

// idle waits, after a claim of pick p found nothing, until a scan finds jobs, timeout
// passes, or the worker stops.
func (t *wildcard) idle(p *wildcardPick, timeout time.Duration, stopped <-chan struct{}) {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-p.found:
	case <-tm.C:
	case <-stopped:
	}
}
