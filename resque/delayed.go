package resque

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// DelayedJob is one job waiting in the delayed schedule.
type DelayedJob struct {
	At      time.Time       // when it is due (whole seconds)
	Queue   string          // the queue it will be pushed to
	Class   string          // its class
	Args    json.RawMessage // the item's "args" array, as stored
	Payload json.RawMessage // the delayed item's exact bytes, {"class","args","queue"}
}

// delayedItem writes the item php-resque-scheduler's ResqueScheduler::jobToHash encodes,
// {"class":C,"args":[A],"queue":Q} (golden 30), with A encoded as Enqueue encodes args.
// RemoveDelayed finds items by these exact bytes, as removeDelayed's LREM does.
func delayedItem(queue, class string, args any) ([]byte, error) {
	if queue == "" {
		return nil, errors.New("empty queue name")
	}
	if class == "" {
		return nil, errors.New("empty class name")
	}
	b := []byte(`{"class":`)
	var err error
	if b, err = phpjson.AppendString(b, class); err != nil {
		return nil, fmt.Errorf("class: %w", err)
	}
	b = append(b, `,"args":[`...)
	start := len(b)
	if b, err = phpjson.Encode(b, args); err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	if a := b[start:]; a[0] != '[' && a[0] != '{' && string(a) != "null" {
		return nil, errors.New("args must be an array, an object or nil")
	}
	b = append(b, `],"queue":`...)
	if b, err = phpjson.AppendString(b, queue); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return append(b, '}'), nil
}

// EnqueueAt schedules a job for time at (whole seconds), as php-resque-scheduler's
// ResqueScheduler::enqueueAt: RPUSH delayed:<ts> ITEM, ZADD delayed_queue_schedule ts ts
// (golden 30), plus SADD timestamps:ITEM delayed:<ts>, the index Ruby resque-scheduler keeps
// so that its tools and node-resque can find and remove the job. The three writes go in one
// MULTI, in Ruby resque-scheduler's order. A time in the past makes the job due at once.
// args is encoded as Enqueue encodes it (nil is PHP's null; PHP's default array() is
// []any{}).
func (c *Client) EnqueueAt(ctx context.Context, at time.Time, queue, class string, args any) error {
	item, err := delayedItem(queue, class, args)
	if err != nil {
		return fmt.Errorf("resque: enqueue at: %w", err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("resque: enqueue at: %w", err)
	}
	defer conn.Close()
	for _, cmd := range [][]any{
		{"MULTI"},
		{"RPUSH", c.keys.Delayed(ts), item},
		{"SADD", c.keys.DelayedTimestamps(string(item)), c.keys.Delayed(ts)},
		{"ZADD", c.keys.DelayedSchedule(), ts, ts},
	} {
		if err := conn.Send(cmd[0].(string), cmd[1:]...); err != nil {
			return fmt.Errorf("resque: enqueue at: %w", err)
		}
	}
	r, err := redis.Values(conn.Do("EXEC"))
	if err != nil {
		return fmt.Errorf("resque: enqueue at: %w", err)
	}
	if err := replyErr(r); err != nil {
		return fmt.Errorf("resque: enqueue at: %w", err)
	}
	return nil
}

// EnqueueIn schedules a job d from now, as ResqueScheduler::enqueueIn (time() + d, whole
// seconds, rounded down as PHP's integer arithmetic does).
func (c *Client) EnqueueIn(ctx context.Context, d time.Duration, queue, class string, args any) error {
	return c.EnqueueAt(ctx, c.now().Add(d), queue, class, args)
}

// removeDelayedScript removes a delayed item from one timestamp and tidies up, atomically:
// php-resque-scheduler's removeDelayedJobFromTimestamp (LREM, then DEL and ZREM when the
// list is empty) plus Ruby resque-scheduler's SREM from the item's timestamps set.
//
//	KEYS[1] delayed:<ts>   KEYS[2] delayed_queue_schedule   KEYS[3] timestamps:<item>
//	ARGV[1] the item's exact bytes   ARGV[2] ts
//
// Returns the number of copies removed.
var removeDelayedScript = redis.NewScript(3, `
local n = redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('SREM', KEYS[3], KEYS[1])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return n
`)

// RemoveDelayed removes every scheduled copy of the job (queue, class and args exactly as it
// was scheduled) and returns how many it removed, as ResqueScheduler::removeDelayed. That
// one scans KEYS delayed:*; goresque looks at the timestamps of the schedule and of Ruby's
// timestamps:<item> set instead, and removes each timestamp's copies atomically, deleting
// a timestamp it empties (golden 31).
func (c *Client) RemoveDelayed(ctx context.Context, queue, class string, args any) (int64, error) {
	item, err := delayedItem(queue, class, args)
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	defer conn.Close()
	tsKeys, err := redis.Strings(conn.Do("SMEMBERS", c.keys.DelayedTimestamps(string(item))))
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	all, err := redis.Strings(conn.Do("ZRANGE", c.keys.DelayedSchedule(), 0, -1))
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	seen := map[string]bool{}
	var tss []string
	for _, ts := range all {
		seen[c.keys.Delayed(ts)] = true
		tss = append(tss, ts)
	}
	prefix := c.keys.Delayed("")
	for _, k := range tsKeys {
		if !seen[k] && len(k) > len(prefix) && k[:len(prefix)] == prefix {
			seen[k] = true
			tss = append(tss, k[len(prefix):])
		}
	}
	return c.removeDelayedFrom(conn, item, tss)
}

// RemoveDelayedAt removes the job's copies scheduled at time at only, as
// ResqueScheduler::removeDelayedJobFromTimestamp.
func (c *Client) RemoveDelayedAt(ctx context.Context, at time.Time, queue, class string, args any) (int64, error) {
	item, err := delayedItem(queue, class, args)
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	defer conn.Close()
	return c.removeDelayedFrom(conn, item, []string{strconv.FormatInt(at.Unix(), 10)})
}

func (c *Client) removeDelayedFrom(conn redis.Conn, item []byte, tss []string) (int64, error) {
	if len(tss) == 0 {
		return 0, nil
	}
	if err := removeDelayedScript.Load(conn); err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	for _, ts := range tss {
		if err := removeDelayedScript.SendHash(conn, c.keys.Delayed(ts), c.keys.DelayedSchedule(), c.keys.DelayedTimestamps(string(item)), item, ts); err != nil {
			return 0, fmt.Errorf("resque: remove delayed: %w", err)
		}
	}
	rs, err := pipelined(conn)
	if err != nil {
		return 0, fmt.Errorf("resque: remove delayed: %w", err)
	}
	var n int64
	for _, r := range rs {
		k, _ := redis.Int64(r, nil)
		n += k
	}
	return n, nil
}

// delayedLists reads the schedule's timestamps in order with the length of each list.
func (c *Client) delayedLists(conn redis.Conn) ([]string, []int64, error) {
	tss, err := redis.Strings(conn.Do("ZRANGE", c.keys.DelayedSchedule(), 0, -1))
	if err != nil {
		return nil, nil, err
	}
	if len(tss) == 0 {
		return nil, nil, nil
	}
	for _, ts := range tss {
		if err := conn.Send("LLEN", c.keys.Delayed(ts)); err != nil {
			return nil, nil, err
		}
	}
	rs, err := pipelined(conn)
	if err != nil {
		return nil, nil, err
	}
	lens := make([]int64, len(rs))
	for i, r := range rs {
		lens[i], _ = redis.Int64(r, nil)
	}
	return tss, lens, nil
}

// DelayedCount returns the number of delayed jobs: the lengths of the delayed:<ts> lists of
// every scheduled timestamp.
func (c *Client) DelayedCount(ctx context.Context) (int64, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: delayed count: %w", err)
	}
	defer conn.Close()
	_, lens, err := c.delayedLists(conn)
	if err != nil {
		return 0, fmt.Errorf("resque: delayed count: %w", err)
	}
	var n int64
	for _, l := range lens {
		n += l
	}
	return n, nil
}

// DelayedRange returns the delayed jobs from start to stop, inclusive, in the order the
// scheduler will move them (by time, then list order), with LRANGE's index semantics over
// that sequence (negative indexes count from the end).
func (c *Client) DelayedRange(ctx context.Context, start, stop int64) ([]DelayedJob, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("resque: delayed range: %w", err)
	}
	defer conn.Close()
	tss, lens, err := c.delayedLists(conn)
	if err != nil {
		return nil, fmt.Errorf("resque: delayed range: %w", err)
	}
	var total int64
	for _, l := range lens {
		total += l
	}
	if start < 0 {
		start = max(total+start, 0)
	}
	if stop < 0 {
		stop = total + stop
	}
	stop = min(stop, total-1)
	if start > stop {
		return nil, nil
	}
	var out []DelayedJob
	var base int64
	for i, ts := range tss {
		lo, hi := max(start-base, 0), min(stop-base, lens[i]-1)
		base += lens[i]
		if lo > hi {
			continue
		}
		items, err := redis.ByteSlices(conn.Do("LRANGE", c.keys.Delayed(ts), lo, hi))
		if err != nil {
			return nil, fmt.Errorf("resque: delayed range: %w", err)
		}
		sec, _ := strconv.ParseInt(ts, 10, 64)
		for _, it := range items {
			d := DelayedJob{At: time.Unix(sec, 0), Payload: it}
			if di, err := decodeDelayedItem(it); err == nil {
				d.Queue, d.Class, d.Args = di.queue, di.class, di.args
			}
			out = append(out, d)
		}
		if base > stop {
			break
		}
	}
	return out, nil
}

type delayedFields struct {
	class, queue string
	args         json.RawMessage
	// id, prefix and attempt are what a goresque retry adds to the item (retryItem);
	// php-resque-scheduler drops them.
	id, prefix string
	attempt    int
}

// decodeDelayedItem reads a delayed item's class, queue and args. What
// php-resque-scheduler's worker could not enqueue (not a JSON object, no class or queue
// string, args not an array) is an error.
func decodeDelayedItem(raw []byte) (delayedFields, error) {
	var d delayedFields
	var it struct {
		Class   any             `json:"class"`
		Args    json.RawMessage `json:"args"`
		Queue   any             `json:"queue"`
		ID      any             `json:"id"`
		Prefix  any             `json:"prefix"`
		Attempt any             `json:"goresque_attempt"`
	}
	if err := json.Unmarshal(raw, &it); err != nil {
		return d, fmt.Errorf("delayed item is not a JSON object: %w", err)
	}
	var ok bool
	if d.class, ok = it.Class.(string); !ok || d.class == "" {
		return d, errors.New(`delayed item has no "class" string`)
	}
	if d.queue, ok = it.Queue.(string); !ok || d.queue == "" {
		return d, errors.New(`delayed item has no "queue" string`)
	}
	if len(it.Args) == 0 || it.Args[0] != '[' {
		return d, errors.New(`delayed item's "args" is not an array`)
	}
	d.args = it.Args
	d.id, _ = it.ID.(string)
	d.prefix, _ = it.Prefix.(string)
	if n, ok := it.Attempt.(float64); ok && n > 1 && n < 1<<31 {
		d.attempt = int(n)
	}
	return d, nil
}
