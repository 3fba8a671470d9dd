package resque

import (
	"context"
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
// reads the queue in chunks from its tail and removes each match by its exact bytes
// (LREM), as Ruby's Resque::Job.destroy does: every removal is atomic, workers keep popping
// the other jobs, and a job a worker took first is simply not counted.
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
		var sent int64
		for _, it := range items {
			if match(it) {
				if err := conn.Send("LREM", key, -1, it); err != nil {
					return removed, fmt.Errorf("resque: dequeue %s: %w", queue, err)
				}
				sent++
			}
		}
		var n int64
		if sent > 0 {
			rs, err := pipelined(conn)
			if err != nil {
				return removed, fmt.Errorf("resque: dequeue %s: %w", queue, err)
			}
			for _, r := range rs {
				k, _ := redis.Int64(r, nil)
				n += k
			}
		}
		removed += n
		off += int64(len(items)) - n
		if len(items) < dequeueChunk {
			return removed, nil
		}
	}
}

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
