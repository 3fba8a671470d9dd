package resque

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// How much `goresque classes` reads besides the statistics: the first ClassQueueSample
// jobs of each queue and the latest ClassFailedSample records of `failed`, so that a
// queue of millions costs a bounded read. Counts from them are counts within the sample.
const (
	ClassQueueSample  = 1000
	ClassFailedSample = 1000
)

// ImplStats are one implementation's statistics of a class (see Keys.Class).
type ImplStats struct {
	Jobs        int64   `json:"jobs"`
	Failed      int64   `json:"failed"`
	FailureRate float64 `json:"failure_rate"`  // Failed/Jobs
	Seconds     float64 `json:"total_seconds"` // time spent in the jobs
	P50         float64 `json:"p50_seconds"`   // from the histogram: off by less than 25%
	P95         float64 `json:"p95_seconds"`
	LastSeen    int64   `json:"last_seen"` // unix time of the last job flushed
}

// ClassInfo is one class seen in the queues, in flight, in `failed` or in the statistics.
type ClassInfo struct {
	Class string `json:"class"`
	// Ported: a registered goresque worker has a Go handler for the class.
	Ported bool `json:"ported"`
	// PortNext ranks the classes not ported, 1 first: most PHP time, then most PHP
	// failures (statistics, then records in `failed`), then most jobs waiting. 0 for a
	// ported class.
	PortNext int   `json:"port_next"`
	Queued   int64 `json:"queued"`    // in the queues' sampled heads
	InFlight int64 `json:"in_flight"` // running now (worker records)
	InFailed int64 `json:"in_failed"` // in the sampled latest `failed` records
	// Implementations holds the statistics per implementation, ImplGo and ImplPHP.
	Implementations map[string]ImplStats `json:"implementations"`
}

// Impl returns the statistics of implementation impl (zero when none).
func (ci ClassInfo) Impl(impl string) ImplStats { return ci.Implementations[impl] }

// ClassesReport is what `goresque classes` shows.
type ClassesReport struct {
	Classes []ClassInfo `json:"classes"`
	// QueueSample and FailedSample are how many jobs were read per queue and from
	// `failed`; Sampled is true when a queue or `failed` held more.
	QueueSample  int  `json:"queue_sample"`
	FailedSample int  `json:"failed_sample"`
	Sampled      bool `json:"sampled"`
}

// Classes lists every class seen: in the queues (their first ClassQueueSample jobs), in
// flight, in `failed` (its latest ClassFailedSample records) and in the per-class
// statistics the workers write; whether a live goresque worker has a Go handler for it;
// and the order in which to port the rest. Classes are told apart as PHP does, without
// case and a leading backslash.
func (c *Client) Classes(ctx context.Context) (ClassesReport, error) {
	rep := ClassesReport{QueueSample: ClassQueueSample, FailedSample: ClassFailedSample}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	byKey := map[string]*ClassInfo{}
	get := func(class string) *ClassInfo {
		class = strings.TrimPrefix(class, `\`)
		k := classKey(class)
		ci := byKey[k]
		if ci == nil {
			ci = &ClassInfo{Class: class, Implementations: map[string]ImplStats{}}
			byKey[k] = ci
		}
		return ci
	}

	// Statistics first: their spelling of a class name wins.
	stats, err := readClassStats(conn, c.keys)
	if err != nil {
		return rep, err
	}
	for _, st := range stats {
		ci := get(st.Class)
		for impl, is := range st.Implementations {
			ci.Implementations[impl] = is
		}
	}

	// Ported: a Go handler on a registered worker. The handler's spelling of the class
	// is the one to show, after the statistics'.
	ids, err := redis.Strings(conn.Do("SMEMBERS", c.keys.Workers()))
	if err != nil {
		return rep, fmt.Errorf("resque: classes: %w", err)
	}
	handlers, err := redis.StringMap(conn.Do("HGETALL", c.keys.Handlers()))
	if err != nil {
		return rep, fmt.Errorf("resque: classes: handlers: %w", err)
	}
	live := map[string]bool{}
	for _, id := range ids {
		live[id] = true
	}
	for id, list := range handlers {
		if !live[id] {
			continue
		}
		var classes []string
		if json.Unmarshal([]byte(list), &classes) != nil {
			continue
		}
		for _, class := range classes {
			get(class).Ported = true
		}
	}

	// Queues: the head of each.
	queues, err := redis.Strings(conn.Do("SMEMBERS", c.keys.Queues()))
	if err != nil {
		return rep, fmt.Errorf("resque: classes: %w", err)
	}
	for _, q := range queues {
		if err := conn.Send("LRANGE", c.keys.Queue(q), 0, ClassQueueSample-1); err != nil {
			return rep, err
		}
		if err := conn.Send("LLEN", c.keys.Queue(q)); err != nil {
			return rep, err
		}
	}
	if len(queues) > 0 {
		replies, err := redis.Values(conn.Do(""))
		if err != nil {
			return rep, fmt.Errorf("resque: classes: queues: %w", err)
		}
		for i := range queues {
			jobs, _ := redis.ByteSlices(replies[2*i], nil)
			if n, _ := redis.Int64(replies[2*i+1], nil); n > ClassQueueSample {
				rep.Sampled = true
			}
			for _, p := range jobs {
				if class := payloadClass(p); class != "" {
					get(class).Queued++
				}
			}
		}
	}

	// In flight: the "working on" records of registered workers.
	for _, id := range ids {
		if err := conn.Send("GET", c.keys.Worker(id)); err != nil {
			return rep, err
		}
	}
	if len(ids) > 0 {
		recs, err := redis.Values(conn.Do(""))
		if err != nil {
			return rep, fmt.Errorf("resque: classes: workers: %w", err)
		}
		for _, r := range recs {
			b, _ := redis.Bytes(r, nil)
			if len(b) == 0 {
				continue
			}
			_, p := parseWorkingOn(b)
			if class := payloadClass(p); class != "" {
				get(class).InFlight++
			}
		}
	}

	// Failed: the latest records.
	failed, err := redis.ByteSlices(conn.Do("LRANGE", c.keys.Failed(), -ClassFailedSample, -1))
	if err != nil {
		return rep, fmt.Errorf("resque: classes: failed: %w", err)
	}
	if n, err := redis.Int64(conn.Do("LLEN", c.keys.Failed())); err == nil && n > ClassFailedSample {
		rep.Sampled = true
	}
	for _, f := range failed {
		var rec struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(f, &rec) == nil {
			if class := payloadClass(rec.Payload); class != "" {
				get(class).InFailed++
			}
		}
	}

	for _, ci := range byKey {
		rep.Classes = append(rep.Classes, *ci)
	}
	sortPortNext(rep.Classes)
	return rep, nil
}

// ClassStats returns the per-class statistics the workers write (Keys.Classes), most
// recently seen first, without reading queues, workers or `failed`: the cheap part of
// Classes, for a metrics scrape. Only Class and Implementations are set.
func (c *Client) ClassStats(ctx context.Context) ([]ClassInfo, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return readClassStats(conn, c.keys)
}

func readClassStats(conn redis.Conn, keys Keys) ([]ClassInfo, error) {
	names, err := redis.Strings(conn.Do("ZREVRANGE", keys.Classes(), 0, -1))
	if err != nil {
		return nil, fmt.Errorf("resque: class statistics: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	for _, n := range names {
		if err := conn.Send("HGETALL", keys.Class(n)); err != nil {
			return nil, err
		}
	}
	hashes, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, fmt.Errorf("resque: class statistics: %w", err)
	}
	out := make([]ClassInfo, 0, len(names))
	for i, n := range names {
		m, err := redis.StringMap(hashes[i], nil)
		if err != nil {
			return nil, fmt.Errorf("resque: class statistics of %s: %w", n, err)
		}
		if len(m) == 0 {
			continue // trimmed or expired meanwhile
		}
		name := m["name"]
		if name == "" {
			name = n
		}
		out = append(out, ClassInfo{Class: name, Implementations: implStats(m)})
	}
	return out, nil
}

// sortPortNext orders the classes not ported first, by most PHP time, then most PHP
// failures (statistics, then records in `failed`), then most jobs waiting, numbering
// them; then the ported ones by volume.
func sortPortNext(cs []ClassInfo) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Ported != b.Ported {
			return !a.Ported
		}
		if !a.Ported {
			pa, pb := a.Impl(ImplPHP), b.Impl(ImplPHP)
			if pa.Seconds != pb.Seconds {
				return pa.Seconds > pb.Seconds
			}
			if pa.Failed != pb.Failed {
				return pa.Failed > pb.Failed
			}
			if a.InFailed != b.InFailed {
				return a.InFailed > b.InFailed
			}
			if a.Queued != b.Queued {
				return a.Queued > b.Queued
			}
		} else {
			va := a.Impl(ImplGo).Jobs + a.Impl(ImplPHP).Jobs
			vb := b.Impl(ImplGo).Jobs + b.Impl(ImplPHP).Jobs
			if va != vb {
				return va > vb
			}
		}
		return a.Class < b.Class
	})
	for i := range cs {
		if !cs[i].Ported {
			cs[i].PortNext = i + 1
		}
	}
}

// implStats reads a Keys.Class hash into statistics per implementation.
func implStats(m map[string]string) map[string]ImplStats {
	out := map[string]ImplStats{}
	hist := map[string][]int64{}
	for f, v := range m {
		impl, field, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		st := out[impl]
		switch {
		case field == "jobs":
			st.Jobs = n
		case field == "failed":
			st.Failed = n
		case field == "us":
			st.Seconds = float64(n) / 1e6
		case field == "last":
			st.LastSeen = n
		case strings.HasPrefix(field, "b"):
			b, err := strconv.Atoi(field[1:])
			if err != nil || b < 0 || b >= durationBuckets {
				continue
			}
			h := hist[impl]
			if h == nil {
				h = make([]int64, durationBuckets)
				hist[impl] = h
			}
			h[b] += n
		}
		out[impl] = st
	}
	for impl, st := range out {
		if st.Jobs > 0 {
			st.FailureRate = float64(st.Failed) / float64(st.Jobs)
		}
		st.P50 = percentile(hist[impl], 0.50) / 1e6
		st.P95 = percentile(hist[impl], 0.95) / 1e6
		out[impl] = st
	}
	return out
}

// percentile estimates the p-quantile in µs of the histogram h (counts per
// durationBucket), interpolating inside the bucket that holds it: the error is at most
// that bucket's width, under 25% of the value.
func percentile(h []int64, p float64) float64 {
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	target := p * float64(total)
	var cum float64
	for b, n := range h {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= target {
			lo, hi := bucketBounds(b)
			return lo + (hi-lo)*(target-cum)/float64(n)
		}
		cum += float64(n)
	}
	lo, _ := bucketBounds(len(h) - 1)
	return lo
}

// payloadClass returns the "class" of a payload, "" when it has none.
func payloadClass(p []byte) string {
	var v struct {
		Class string `json:"class"`
	}
	if json.Unmarshal(p, &v) != nil {
		return ""
	}
	return v.Class
}
