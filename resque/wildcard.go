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
//   - With more, a scan (SMEMBERS when due, EXISTS over chunks of queue keys, LLEN where a
//     chunk has any) finds the queues that hold jobs. Claims try only those, in priority
//     order and at most wildcardBatch at a time, and forget each one a claim finds empty. The next scan runs when claims have
//     emptied every queue the last scan found; when the last scan is older than
//     Config.Interval while jobs are being taken (so a job pushed to a queue that was empty
//     waits at most about one Interval, where php-resque would find it at the next job);
//     and, while idle, at most once per Interval (once per second with BLOCKING, which
//     does not watch more than wildcardSmall queues), for the whole Worker, not per slot.
//   - Every claim compares the size of the set (SCARD, in cycleScript) with the list's: a
//     queue added or removed (Resque::removeQueue) makes the next claim scan again.
//
// One slot at a time scans, on a connection of its own and without holding mu: the other
// slots go on claiming from the queues the last scan found (or, before the first scan has
// ended, wait for it).
type wildcard struct {
	w       *Worker
	idleGap time.Duration // the shortest time between two scans that found nothing
	ready   chan struct{} // closed when the first scan has ended

	mu       sync.Mutex
	list     *wildList // nil until the first scan
	live     []int     // positions in list of the queues the last scan found jobs in, in order
	gen      uint64    // the scan live comes from
	scanned  time.Time // zero: scan at the next claim
	listed   time.Time // when list was read; zero: read it at the next scan
	drained  bool      // claims emptied live: scan at the next claim
	scanning bool
	found    chan struct{} // closed when a scan finds jobs, to wake the idle slots
	broken   map[string]bool
}

// wildList is the set as one scan read it; never changed once built, so that a scan and
// the slots can read it without a lock.
type wildList struct {
	names []string // the set's members, sorted as PHP's sort() sorts them
	keys  []any    // queue:<name> of each name
	heads []string // the in-flight record head {"queue":"<name>" of each name
	index map[string]bool
	card  string // len(names), for cycleScript's staleness check
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
	return &wildcard{w: w, idleGap: gap, ready: make(chan struct{}), found: make(chan struct{})}
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
	now := time.Now()
	if !t.scanning && t.scanDue(now) {
		t.scanning = true
		list, reread := t.list, t.listed.IsZero() || now.Sub(t.listed) >= max(t.w.cfg.Interval, time.Second)
		t.mu.Unlock()
		list, live, err := t.scan(ctx, list, reread)
		t.mu.Lock()
		t.scanning = false
		if err != nil {
			t.scanned, t.listed = time.Time{}, time.Time{}
			t.mu.Unlock()
			return err
		}
		if t.list == nil {
			close(t.ready)
		}
		if reread {
			t.listed = now
		}
		t.list, t.live, t.gen, t.scanned, t.drained = list, live, t.gen+1, now, false
		if len(live) > 0 {
			close(t.found)
			t.found = make(chan struct{})
		}
	}
	if t.list == nil { // the first scan is running: wait for it
		t.mu.Unlock()
		select {
		case <-t.ready:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		t.mu.Lock()
	}
	defer t.mu.Unlock()
	l, p := t.list, &s.pick
	p.gen, p.small, p.found, p.pos = t.gen, len(l.names) <= wildcardSmall, t.found, p.pos[:0]
	if p.small {
		for i := range l.names {
			p.pos = append(p.pos, i)
		}
	} else {
		p.pos = append(p.pos, t.live[:min(len(t.live), wildcardBatch)]...)
	}
	s.queues, s.args.queueKeys, s.args.heads = s.queues[:0], s.args.queueKeys[:0], s.args.heads[:0]
	for _, i := range p.pos {
		s.queues = append(s.queues, l.names[i])
		s.args.queueKeys = append(s.args.queueKeys, l.keys[i])
		s.args.heads = append(s.args.heads, l.heads[i])
	}
	s.args.card = l.card
	return nil
}

func (t *wildcard) scanDue(now time.Time) bool {
	switch {
	case t.scanned.IsZero() || t.drained:
		return true
	case len(t.list.names) <= wildcardSmall || len(t.live) > 0:
		return now.Sub(t.scanned) >= t.w.cfg.Interval
	default:
		return now.Sub(t.scanned) >= t.idleGap
	}
}

// scan reads the set again when reread is set (or list is nil) and, when it is larger than
// wildcardSmall, finds the queues that have jobs. It returns the list and the positions of
// those queues.
//
// The set is read again when its size changed (cycleScript's check) and at most once per
// Interval (or second) otherwise, for a queue removed and another added between two claims.
func (t *wildcard) scan(ctx context.Context, list *wildList, reread bool) (*wildList, []int, error) {
	pc, err := t.w.pool.GetContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer pc.Close()
	if reread || list == nil {
		set := t.w.keys.Queues()
		members, err := redis.Strings(doContext(pc, ctx, "SMEMBERS", set))
		if err != nil {
			return nil, nil, fmt.Errorf("resque: QUEUE=*: read %s: %w", set, err)
		}
		list = t.newList(list, members)
	}
	if len(list.names) <= wildcardSmall {
		return list, nil, nil
	}
	// Nearly all queues are empty, and Redis deletes an empty list: one EXISTS over
	// scanChunk keys costs a lookup per key where a command per key costs a parse and a
	// reply each. LLEN then runs on the keys of the chunks that have any, to tell lists
	// with jobs from keys of another type.
	for i := 0; i < len(list.keys); i += scanChunk {
		if err := pc.Send("EXISTS", list.keys[i:min(i+scanChunk, len(list.keys))]...); err != nil {
			return nil, nil, err
		}
	}
	counts, err := redis.Ints(doContext(pc, ctx, ""))
	if err != nil {
		return nil, nil, fmt.Errorf("resque: QUEUE=*: scan the queues: %w", err)
	}
	var probed, live []int
	for c, n := range counts {
		if n == 0 {
			continue
		}
		for i := c * scanChunk; i < min((c+1)*scanChunk, len(list.keys)); i++ {
			if err := pc.Send("LLEN", list.keys[i]); err != nil {
				return nil, nil, err
			}
			probed = append(probed, i)
		}
	}
	if len(probed) == 0 {
		return list, nil, nil
	}
	replies, err := redis.Values(doContext(pc, ctx, ""))
	if err != nil {
		return nil, nil, fmt.Errorf("resque: QUEUE=*: scan the queues: %w", err)
	}
	for j, r := range replies {
		i := probed[j]
		switch v := r.(type) {
		case int64:
			if v > 0 {
				live = append(live, i)
			}
		case redis.Error: // not a list: skipped, as cycleScript skips it
			t.brokenOnce(list.keys[i].(string), v)
		}
	}
	return list, live, nil
}

// newList returns the list of members, sorted: old when it has the same members.
func (t *wildcard) newList(old *wildList, members []string) *wildList {
	if old != nil && len(members) == len(old.names) {
		same := true
		for _, m := range members {
			if !old.index[m] {
				same = false
				break
			}
		}
		if same {
			return old
		}
	}
	sortQueuesPHP(members)
	l := &wildList{names: members, index: make(map[string]bool, len(members)), card: itoa(len(members))}
	for _, q := range members {
		l.keys = append(l.keys, t.w.keys.Queue(q))
		h, _ := phpjson.AppendString([]byte(`{"queue":`), validUTF8(q))
		l.heads = append(l.heads, string(h))
		l.index[q] = true
	}
	return l
}

func (t *wildcard) brokenOnce(key string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
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
