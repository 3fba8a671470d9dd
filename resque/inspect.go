package resque

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// QueueInfo is one queue and the number of jobs waiting in it.
type QueueInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Queues lists the queues of the `queues` set with their lengths, sorted the way a
// QUEUE=* worker orders them.
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	names, err := redis.Strings(conn.Do("SMEMBERS", c.keys.Queues()))
	if err != nil {
		return nil, fmt.Errorf("resque: queues: %w", err)
	}
	sortQueuesPHP(names)
	for _, n := range names {
		if err := conn.Send("LLEN", c.keys.Queue(n)); err != nil {
			return nil, err
		}
	}
	sizes, err := redis.Int64s(conn.Do(""))
	if err != nil && len(names) > 0 {
		return nil, fmt.Errorf("resque: queue sizes: %w", err)
	}
	out := make([]QueueInfo, len(names))
	for i, n := range names {
		out[i] = QueueInfo{Name: n, Size: sizes[i]}
	}
	return out, nil
}

// WorkerInfo is a registered worker as resque-web shows it.
type WorkerInfo struct {
	ID        string          `json:"id"`
	Host      string          `json:"host"`
	PID       string          `json:"pid"`
	Queues    []string        `json:"queues"`
	Started   string          `json:"started"`
	Heartbeat string          `json:"heartbeat,omitempty"`
	Processed int64           `json:"processed"`
	Failed    int64           `json:"failed"`
	Working   json.RawMessage `json:"working_on,omitempty"` // the worker:<id> record, when busy
}

// Workers lists the registered workers (Resque_Worker::all) with their records.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ids, err := redis.Strings(conn.Do("SMEMBERS", c.keys.Workers()))
	if err != nil {
		return nil, fmt.Errorf("resque: workers: %w", err)
	}
	sort.Strings(ids)
	beats, err := redis.StringMap(conn.Do("HGETALL", c.keys.Heartbeats()))
	if err != nil {
		return nil, fmt.Errorf("resque: heartbeats: %w", err)
	}
	for _, id := range ids {
		for _, k := range []string{c.keys.WorkerStarted(id), c.keys.WorkerStat("processed", id), c.keys.WorkerStat("failed", id), c.keys.Worker(id)} {
			if err := conn.Send("GET", k); err != nil {
				return nil, err
			}
		}
	}
	vals, err := redis.Values(conn.Do(""))
	if err != nil && len(ids) > 0 {
		return nil, fmt.Errorf("resque: worker records: %w", err)
	}
	out := make([]WorkerInfo, 0, len(ids))
	for i, id := range ids {
		host, pid, queues, _ := splitWorkerID(id)
		wi := WorkerInfo{ID: id, Host: host, PID: pid, Queues: strings.Split(queues, ","), Heartbeat: beats[id]}
		wi.Started, _ = redis.String(vals[4*i], nil)
		wi.Processed, _ = redis.Int64(vals[4*i+1], nil)
		wi.Failed, _ = redis.Int64(vals[4*i+2], nil)
		if rec, _ := redis.Bytes(vals[4*i+3], nil); rec != nil {
			if json.Valid(rec) {
				wi.Working = rec
			} else {
				q, _ := json.Marshal(string(rec))
				wi.Working = q
			}
		}
		out = append(out, wi)
	}
	return out, nil
}

// Stats are the global counters and sizes resque-web's overview shows.
type Stats struct {
	Processed int64 `json:"processed"`
	Failed    int64 `json:"failed"`
	Queues    int64 `json:"queues"`
	Pending   int64 `json:"pending"`
	Workers   int64 `json:"workers"`
	Working   int64 `json:"working"`
	FailedLen int64 `json:"failed_list"`
}

// Stats reads stat:processed, stat:failed (Resque_Stat::get) and the sizes of the
// queues, workers and failed list.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	qs, err := c.Queues(ctx)
	if err != nil {
		return st, err
	}
	st.Queues = int64(len(qs))
	for _, q := range qs {
		st.Pending += q.Size
	}
	ws, err := c.Workers(ctx)
	if err != nil {
		return st, err
	}
	st.Workers = int64(len(ws))
	for _, w := range ws {
		if w.Working != nil {
			st.Working++
		}
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	vals, err := redis.Values(conn.Do("MGET", c.keys.Stat("processed"), c.keys.Stat("failed")))
	if err != nil {
		return st, fmt.Errorf("resque: stats: %w", err)
	}
	st.Processed, _ = redis.Int64(vals[0], nil)
	st.Failed, _ = redis.Int64(vals[1], nil)
	st.FailedLen, err = redis.Int64(conn.Do("LLEN", c.keys.Failed()))
	if err != nil {
		return st, fmt.Errorf("resque: failed list: %w", err)
	}
	return st, nil
}

// ErrNoStatus is returned by Status for a job that is not tracked or whose status expired.
var ErrNoStatus = errors.New("resque: job has no status (not tracked, or expired after 24h)")

// Status reads job:<id>:status (Resque_Job_Status::get); prefix is v1.3.6's status prefix.
func (c *Client) Status(ctx context.Context, id, prefix string) (JobStatus, error) {
	var st JobStatus
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	b, err := redis.Bytes(conn.Do("GET", c.keys.JobStatus(id, prefix)))
	if errors.Is(err, redis.ErrNil) {
		return st, ErrNoStatus
	}
	if err != nil {
		return st, fmt.Errorf("resque: status: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("resque: status packet %q: %w", b, err)
	}
	return st, nil
}

// phpNumeric matches a PHP 8 numeric string: optional surrounding whitespace, a sign,
// digits with an optional fraction and exponent.
var phpNumeric = regexp.MustCompile(`^[ \t\n\r\v\f]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\v\f]*$`)

// sortQueuesPHP sorts queue names as PHP's sort() does for php-resque's QUEUE=*: two
// numeric strings compare as numbers, anything else byte by byte.
func sortQueuesPHP(names []string) {
	sort.SliceStable(names, func(i, j int) bool { return phpLess(names[i], names[j]) })
}

func phpLess(a, b string) bool {
	if phpNumeric.MatchString(a) && phpNumeric.MatchString(b) {
		fa, _ := strconv.ParseFloat(strings.TrimSpace(a), 64)
		fb, _ := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if fa != fb {
			return fa < fb
		}
	}
	return a < b
}

// parseWorkingOn extracts the queue and the raw payload from a "working on" record
// {"queue":Q,"run_at":D,"payload":P}, in any key order and with any whitespace:
// node-resque writes {"run_at","queue","payload","worker"}. The payload's bytes are
// returned exactly as they are in the record, never re-encoded, and the queue name keeps
// its bytes (escapes decoded, invalid UTF-8 left as it is). goresque's own record embeds
// whatever the queue held, even bytes that are not JSON, as its last value: when the
// payload does not parse, it is everything after "payload": up to the closing brace. A
// record that is not a JSON object at all (or has no payload) gives the whole record as
// the payload, so that a failure record keeps the original bytes.
func parseWorkingOn(rec []byte) (queue string, payload []byte) {
	i := phpjson.SkipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return "", rec
	}
	i = phpjson.SkipSpace(rec, i+1)
	found := false
	for i < len(rec) && rec[i] != '}' {
		kend, ok := skipLenient(rec, i)
		if !ok || rec[i] != '"' {
			return "", rec
		}
		key := rec[i:kend]
		i = phpjson.SkipSpace(rec, kend)
		if i >= len(rec) || rec[i] != ':' {
			return "", rec
		}
		start := phpjson.SkipSpace(rec, i+1)
		end, ok := skipLenient(rec, start)
		next := phpjson.SkipSpace(rec, end)
		if !ok || next >= len(rec) || rec[next] != ',' && rec[next] != '}' {
			if string(jsonStringBytes(key)) != "payload" {
				return "", rec
			}
			// goresque's record: the raw payload is the last value.
			rest := bytes.TrimRight(rec[start:], " \t\r\n")
			return queue, bytes.TrimSuffix(rest, []byte("}"))
		}
		switch string(jsonStringBytes(key)) {
		case "payload":
			payload, found = rec[start:end], true
		case "queue":
			if rec[start] == '"' {
				queue = string(jsonStringBytes(rec[start:end]))
			}
		}
		i = next
		if rec[i] == ',' {
			i = phpjson.SkipSpace(rec, i+1)
		}
	}
	if i >= len(rec) || !found {
		return "", rec
	}
	return queue, payload
}

// skipLenient returns the end of the JSON value at b[i] without validating more than
// needed to find it: strings may hold any bytes, nesting is counted, not recursed.
func skipLenient(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return i, false
			}
			i = j + 1
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			if depth == 0 {
				return i, false
			}
			depth--
			i++
		case depth > 0:
			i++
		default: // a scalar: up to a delimiter
			j := i
			for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n:"), rune(b[j])) {
				j++
			}
			if j == i {
				return i, false
			}
			i = j
		}
		if depth == 0 {
			return i, true
		}
	}
	return i, false
}

// jsonStringBytes decodes a JSON string token that jsonSkipString accepted into its bytes.
// Unlike encoding/json it keeps bytes that are not valid UTF-8 as they are, so a queue
// name made of arbitrary bytes comes back unchanged.
func jsonStringBytes(tok []byte) []byte {
	body := tok[1 : len(tok)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body
	}
	out := make([]byte, 0, len(body))
	for j := 0; j < len(body); j++ {
		c := body[j]
		if c != '\\' || j+1 >= len(body) {
			out = append(out, c)
			continue
		}
		j++
		switch body[j] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := decodeU(body, j+1)
			out = utf8.AppendRune(out, r)
			j += n - 1
		default: // '"', '\\', '/'
			out = append(out, body[j])
		}
	}
	return out
}

// decodeU decodes the hex digits of a \u escape at s[i:], joining a surrogate pair; it
// returns the rune and how many bytes after the 'u' it used.
func decodeU(s []byte, i int) (rune, int) {
	hex := func(at int) (rune, bool) {
		if at+4 > len(s) {
			return 0, false
		}
		v, err := strconv.ParseUint(string(s[at:at+4]), 16, 16)
		return rune(v), err == nil
	}
	r, ok := hex(i)
	if !ok {
		return utf8.RuneError, 1
	}
	if utf16.IsSurrogate(r) && i+10 <= len(s) && s[i+4] == '\\' && s[i+5] == 'u' {
		if r2, ok := hex(i + 6); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 11
			}
		}
	}
	if utf16.IsSurrogate(r) {
		return utf8.RuneError, 5
	}
	return r, 5
}
