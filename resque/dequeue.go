package resque

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// dequeueChunk is how many queue items Dequeue reads per round trip.
const dequeueChunk = 1000

// Dequeue removes jobs from queue and returns how many it removed, with the matching rules
// of php-resque's Resque::dequeue($queue, $items):
//
//   - class "": the whole queue (Resque::dequeue($queue) with no items: LLEN, DEL; the
//     queue's name stays in the queues set);
//   - args nil: every job of class (items ['Class']);
//   - args a string: the job of class with that id (items ['Class' => 'id']);
//   - anything else (a map, a PHPObject, a slice, a json.RawMessage): every job of class
//     whose first argument is non-empty and has only values among args' values, compared as
//     PHP strings (items ['Class' => [...]]: PHP's array_diff).
//
// Class names are compared exactly (PHP's == also equates numeric strings).
//
// php-resque moves the whole queue through temporary lists to do this, so jobs are invisible
// to workers meanwhile and lost if the process dies midway (golden 23-26). Dequeue instead
// reads the queue in chunks from its tail and removes each match by its exact bytes, as
// Ruby's Resque::Job.destroy does (there with one LREM per job; here one script per chunk,
// dequeueScript): every removal is atomic, workers keep popping the other jobs, and a job a
// worker took first is simply not counted.
func (c *Client) Dequeue(ctx context.Context, queue, class string, args any) (int64, error) {
	if queue == "" {
		return 0, fmt.Errorf("resque: dequeue: empty queue name")
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: dequeue: %w", err)
	}
	defer conn.Close()
	key := c.keys.Queue(queue)
	if class == "" {
		if err := conn.Send("MULTI"); err != nil {
			return 0, fmt.Errorf("resque: dequeue: %w", err)
		}
		if err := conn.Send("LLEN", key); err != nil {
			return 0, fmt.Errorf("resque: dequeue: %w", err)
		}
		if err := conn.Send("DEL", key); err != nil {
			return 0, fmt.Errorf("resque: dequeue: %w", err)
		}
		r, err := redis.Values(conn.Do("EXEC"))
		if err != nil {
			return 0, fmt.Errorf("resque: dequeue %s: %w", queue, err)
		}
		if err := replyErr(r); err != nil {
			return 0, fmt.Errorf("resque: dequeue %s: %w", queue, err)
		}
		n, _ := redis.Int64(r[0], nil)
		return n, nil
	}
	match, err := dequeueMatcher(class, args)
	if err != nil {
		return 0, fmt.Errorf("resque: dequeue: %w", err)
	}
	var tok [12]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return 0, fmt.Errorf("resque: dequeue: %w", err)
	}
	tomb := "goresque:dequeued:" + hex.EncodeToString(tok[:])
	var removed, off int64
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		items, err := redis.ByteSlices(conn.Do("LRANGE", key, -(off + dequeueChunk), -(off + 1)))
		if err != nil {
			return removed, fmt.Errorf("resque: dequeue %s: %w", queue, err)
		}
		if len(items) == 0 {
			return removed, nil
		}
		args := []any{key, tomb, dequeueWindow}
		for i, it := range items {
			if match(it) {
				args = append(args, -(off + int64(len(items)-i)), it)
			}
		}
		var n int64
		if len(args) > 3 {
			if n, err = redis.Int64(dequeueScript.Do(conn, args...)); err != nil {
				return removed, fmt.Errorf("resque: dequeue %s: %w", queue, err)
			}
		}
		removed += n
		off += int64(len(items)) - n
		if len(items) < dequeueChunk {
			return removed, nil
		}
	}
}

// dequeueWindow is how far towards the head dequeueScript looks for an item that jobs
// pushed meanwhile moved away from the negative index it was read at.
const dequeueWindow = 1000

// dequeueScript removes the given items of one queue, each by its exact bytes and only if
// it is still in the queue: at the negative index it was read at (workers pop from the
// head, which does not move negative indexes) or, when jobs were pushed meanwhile, up to
// ARGV[2] places further towards the head. Each item found is overwritten with a tombstone
// unique to the call (LSET), and one LREM from the tail removes the tombstones, so a chunk
// costs one pass instead of a whole-list LREM per job. An item not found was taken by a
// worker meanwhile and is not counted.
//
//	KEYS[1] queue:<q>
//	ARGV[1] tombstone   ARGV[2] search window
//	ARGV[3..] pairs: the item's negative index, its bytes
//
// Returns the number of items removed.
var dequeueScript = redis.NewScript(1, `
local w = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV, 2 do
  local p = tonumber(ARGV[i])
  local raw = ARGV[i + 1]
  local at = nil
  if redis.call('LINDEX', KEYS[1], p) == raw then
    at = p
  else
    local win = redis.call('LRANGE', KEYS[1], p - w, p)
    for j = #win, 1, -1 do
      if win[j] == raw then
        at = p - (#win - j)
        break
      end
    end
  end
  if at then
    redis.call('LSET', KEYS[1], at, ARGV[1])
    n = n + 1
  end
end
if n > 0 then
  redis.call('LREM', KEYS[1], -n, ARGV[1])
end
return n
`)

// dequeueMatcher returns php-resque's Resque::matchItem for one item of $items.
func dequeueMatcher(class string, args any) (func([]byte) bool, error) {
	switch a := args.(type) {
	case nil:
		return func(raw []byte) bool {
			j, err := decodePayload("", raw)
			return err == nil && j.Class == class
		}, nil
	case string:
		return func(raw []byte) bool {
			j, err := decodePayload("", raw)
			return err == nil && j.Class == class && j.ID == a
		}, nil
	}
	enc, err := phpjson.Encode(nil, args)
	if err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	if enc[0] != '[' && enc[0] != '{' {
		return nil, fmt.Errorf("args must be nil, a job id, an array or an object, not %s", enc)
	}
	want := map[string]bool{}
	for _, v := range jsonValues(enc) {
		want[phpStringOf(v)] = true
	}
	return func(raw []byte) bool {
		j, err := decodePayload("", raw)
		if err != nil || j.Class != class || len(j.args) == 0 {
			return false
		}
		// (array)$decoded['args'][0]: an array's values, a scalar as one value, null as none.
		first := j.args[0]
		var have []json.RawMessage
		switch {
		case isNull(first):
		case first[0] == '[' || first[0] == '{':
			have = jsonValues(first)
		default:
			have = []json.RawMessage{first}
		}
		if len(have) == 0 {
			return false
		}
		for _, v := range have {
			if !want[phpStringOf(v)] {
				return false
			}
		}
		return true
	}, nil
}

// jsonValues returns the element values of a JSON array or the member values of a JSON
// object (which jsonSkip has accepted).
func jsonValues(v []byte) []json.RawMessage {
	if v[0] == '[' {
		return jsonElements(v)
	}
	var out []json.RawMessage
	i := phpjson.SkipSpace(v, 1)
	if v[i] == '}' {
		return nil
	}
	for {
		_, vs, err := phpjson.Key(v, i)
		if err != nil {
			return out
		}
		ve, err := skipValue(v, vs)
		if err != nil {
			return out
		}
		out = append(out, json.RawMessage(v[vs:ve]))
		i = phpjson.SkipSpace(v, ve)
		if i >= len(v) || v[i] != ',' {
			return out
		}
		i = phpjson.SkipSpace(v, i+1)
	}
}

// phpStringOf is PHP's (string) cast of a decoded JSON value, which array_diff compares:
// strings as they are, integers in decimal, floats in PHP's shortest form, true "1", false
// and null "", arrays "Array".
func phpStringOf(v json.RawMessage) string {
	switch {
	case len(v) == 0:
		return ""
	case v[0] == '"':
		return phpjson.Unquote(v)
	case v[0] == 't':
		return "1"
	case v[0] == 'f' || v[0] == 'n':
		return ""
	case v[0] == '[' || v[0] == '{':
		return "Array"
	}
	s := string(v)
	if !strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	// PHP's (string) of a float is printf's %.14G (the precision ini setting), with
	// trailing zeros dropped and "1.0E+20" for an exponent form without fraction.
	m, exp, hasExp := strings.Cut(strconv.FormatFloat(f, 'G', 14, 64), "E")
	if strings.Contains(m, ".") {
		m = strings.TrimRight(strings.TrimRight(m, "0"), ".")
	}
	if !hasExp {
		return m
	}
	if !strings.Contains(m, ".") {
		m += ".0"
	}
	return m + "E" + exp[:1] + strings.TrimLeft(exp[1:], "0")
}
