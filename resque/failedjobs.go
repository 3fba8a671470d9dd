package resque

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// FailedJob is one record of the `failed` list, as php-resque's Resque_Failure_Redis, Ruby's
// Resque::Failure::Redis and goresque write it. Raw is the record's exact bytes: together with
// Index it addresses the record safely while workers append and other tools remove (see
// RetryFailed).
type FailedJob struct {
	Index       int64           // position in the list when it was read
	Raw         []byte          // the record's exact bytes
	FailedAt    time.Time       // FailedAtRaw parsed; zero when no known format matched
	FailedAtRaw string          // "failed_at" as written (strftime, date('c') or Ruby's form)
	Payload     json.RawMessage // the job's payload bytes (payload_base64 decoded when present); nil when the record has none
	Class       string          // the payload's "class"
	Queue       string          // the record's "queue"
	Exception   string          // exception class name
	Error       string          // exception message
	Backtrace   []string        // backtrace lines
	Worker      string          // id of the worker that failed it
	RetriedAt   string          // "retried_at", set by a retry (Ruby's form); "" when never retried
}

// ErrFailedMoved is returned when a failure record is no longer where it was read, nor near
// it: another tool removed or retried it meanwhile (a retried record's bytes change).
var ErrFailedMoved = errors.New("resque: failed record no longer in the failed list (removed or retried meanwhile)")

// ErrNoPayload is returned by RetryFailed for a record without a payload to push back
// (php-resque records null when it could not decode the queue item).
var ErrNoPayload = errors.New("resque: failed record has no payload to retry")

// failedAtLayouts are the date forms failure records carry: php-resque 1.x's
// strftime('%a %b %d %H:%M:%S %Z %Y'), resque/php-resque v1.3.6's date('c'), Ruby resque's
// strftime("%Y/%m/%d %H:%M:%S %Z") and its zone-less retried_at form.
var failedAtLayouts = []string{
	"Mon Jan 02 15:04:05 MST 2006",
	time.RFC3339,
	"2006/01/02 15:04:05 MST",
	"2006/01/02 15:04:05 -0700",
	"2006/01/02 15:04:05",
}

func parseFailedAt(s string) time.Time {
	for _, l := range failedAtLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// decodeFailedJob parses a record; one that is not JSON still comes back, with Raw set and
// the other fields empty, so that listing never stops at a damaged record.
func decodeFailedJob(index int64, raw []byte) FailedJob {
	f := FailedJob{Index: index, Raw: raw}
	var rec struct {
		FailedAt      any             `json:"failed_at"`
		Payload       json.RawMessage `json:"payload"`
		PayloadBase64 string          `json:"payload_base64"`
		Exception     any             `json:"exception"`
		Error         any             `json:"error"`
		Backtrace     any             `json:"backtrace"`
		Worker        any             `json:"worker"`
		Queue         any             `json:"queue"`
		RetriedAt     any             `json:"retried_at"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return f
	}
	f.FailedAtRaw = anyString(rec.FailedAt)
	f.FailedAt = parseFailedAt(f.FailedAtRaw)
	f.Exception = anyString(rec.Exception)
	f.Error = anyString(rec.Error)
	f.Worker = anyString(rec.Worker)
	f.Queue = anyString(rec.Queue)
	f.RetriedAt = anyString(rec.RetriedAt)
	switch bt := rec.Backtrace.(type) {
	case []any:
		for _, l := range bt {
			f.Backtrace = append(f.Backtrace, anyString(l))
		}
	case string:
		f.Backtrace = strings.Split(bt, "\n")
	}
	if rec.PayloadBase64 != "" {
		if b, err := base64.StdEncoding.DecodeString(rec.PayloadBase64); err == nil {
			f.Payload = b
		}
	} else if !isNull(rec.Payload) {
		f.Payload = rec.Payload
	}
	if !isNull(rec.Payload) && rec.Payload[0] == '{' {
		var p struct {
			Class any `json:"class"`
		}
		if json.Unmarshal(rec.Payload, &p) == nil {
			f.Class = anyString(p.Class)
		}
	}
	return f
}

// anyString renders a decoded JSON scalar as PHP's string conversion would for the fields
// of a failure record; objects and arrays give "".
func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strings.TrimSuffix(fmt.Sprintf("%g", x), ".0")
	case bool:
		if x {
			return "1"
		}
	}
	return ""
}

// FailedCount returns the length of the failed list (Resque::Failure.count).
func (c *Client) FailedCount(ctx context.Context) (int64, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: failed count: %w", err)
	}
	defer conn.Close()
	n, err := redis.Int64(conn.Do("LLEN", c.keys.Failed()))
	if err != nil {
		return 0, fmt.Errorf("resque: failed count: %w", err)
	}
	return n, nil
}

// FailedRange returns the records from start to stop, inclusive, with LRANGE's semantics
// (negative indexes count from the end), oldest first, as Resque::Failure.all reads them.
// Each record's Index is its position when read.
func (c *Client) FailedRange(ctx context.Context, start, stop int64) ([]FailedJob, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("resque: failed range: %w", err)
	}
	defer conn.Close()
	if start < 0 || stop < 0 {
		// Resolve negative indexes to absolute ones so each record's Index is usable.
		n, err := redis.Int64(conn.Do("LLEN", c.keys.Failed()))
		if err != nil {
			return nil, fmt.Errorf("resque: failed range: %w", err)
		}
		if start < 0 {
			start = max(n+start, 0)
		}
		if stop < 0 {
			stop = n + stop
		}
		if stop < start {
			return nil, nil
		}
	}
	recs, err := redis.ByteSlices(conn.Do("LRANGE", c.keys.Failed(), start, stop))
	if err != nil {
		return nil, fmt.Errorf("resque: failed range: %w", err)
	}
	out := make([]FailedJob, len(recs))
	for i, r := range recs {
		out[i] = decodeFailedJob(start+int64(i), r)
	}
	return out, nil
}

// failedOpScript retries or removes failure records, each atomically, addressing each by
// its index plus its exact bytes: the record must be at the index it was read at or, when
// other tools removed records before it meanwhile, within ARGV[2] positions of it (the
// nearest copy is taken). A record found nowhere is left alone and reported as -1.
//
// Retrying, as Ruby's Resque::Failure::Redis.requeue: the record is replaced by its copy with
// "retried_at" set (LSET, in place: indexes do not shift), the exact payload bytes go to the
// tail of their queue (SADD queues, RPUSH queue:<q>, as Resque.push), and a tracked job's
// status packet, if it still exists, is set back to waiting.
//
// Removing, as Ruby's Resque::Failure::Redis.remove: the record is overwritten with a
// tombstone unique to this call (LSET), and one LREM at the end removes every tombstone.
//
//	KEYS[1] failed   KEYS[2] queues
//	KEYS[1+2i] queue:<q> of record i (i from 1)   KEYS[2+2i] job:<id>:status of record i
//	ARGV[1] "retry" or "remove"   ARGV[2] search window   ARGV[3] tombstone
//	per record i, from ARGV[4+6(i-1)]: index, record bytes, retried record, queue name,
//	payload, waiting status packet ("" for none)
//
// Returns, per record, the index it was found at, or -1.
var failedOpScript = redis.NewScript(-1, `
local n = (#ARGV - 3) / 6
local w = tonumber(ARGV[2])
local out = {}
local removed = false
for i = 1, n do
  local a = 4 + 6 * (i - 1)
  local idx = tonumber(ARGV[a])
  local raw = ARGV[a + 1]
  local at = -1
  if redis.call('LINDEX', KEYS[1], idx) == raw then
    at = idx
  else
    local lo = idx - w
    if lo < 0 then lo = 0 end
    local win = redis.call('LRANGE', KEYS[1], lo, idx + w)
    for j, v in ipairs(win) do
      if v == raw then
        local p = lo + j - 1
        if at < 0 or math.abs(p - idx) < math.abs(at - idx) then at = p end
      end
    end
  end
  if at >= 0 then
    if ARGV[1] == 'retry' then
      redis.call('LSET', KEYS[1], at, ARGV[a + 2])
      redis.call('SADD', KEYS[2], ARGV[a + 3])
      redis.call('RPUSH', KEYS[1 + 2 * i], ARGV[a + 4])
      if ARGV[a + 5] ~= '' and redis.call('EXISTS', KEYS[2 + 2 * i]) == 1 then
        redis.call('SET', KEYS[2 + 2 * i], ARGV[a + 5])
      end
    else
      redis.call('LSET', KEYS[1], at, ARGV[3])
      removed = true
    end
  end
  out[i] = at
end
if removed then
  redis.call('LREM', KEYS[1], 0, ARGV[3])
end
return out
`)

// failedSearchWindow is how far from its read index failedOpScript looks for a record that
// moved: records before it that other tools removed meanwhile.
const failedSearchWindow = 1000

// RetryFailed puts the failed job's exact payload bytes back at the tail of its queue and
// sets "retried_at" on the record, as Ruby's Resque::Failure::Redis.requeue (php-resque has
// no retry). Both happen in one atomic step, and only if the record still has the bytes it
// was read with (else ErrFailedMoved): a command that dies midway never loses or duplicates
// a job, and a record retried by another tool meanwhile is not retried twice.
func (c *Client) RetryFailed(ctx context.Context, f FailedJob) error {
	n, err := c.RetryFailedJobs(ctx, []FailedJob{f})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrFailedMoved
	}
	return nil
}

// RemoveFailed removes one failure record, atomically and only if it still has the bytes it
// was read with (else ErrFailedMoved), as Ruby's Resque::Failure::Redis.remove.
func (c *Client) RemoveFailed(ctx context.Context, f FailedJob) error {
	n, err := c.RemoveFailedJobs(ctx, []FailedJob{f})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrFailedMoved
	}
	return nil
}

// failedBatch is how many records one failedOpScript call handles.
const failedBatch = 500

// RetryFailedJobs retries many records as RetryFailed does, each atomically, in batches. It
// returns how many were retried; records no longer in the list are skipped. A record
// without payload or queue fails the call before anything is written.
func (c *Client) RetryFailedJobs(ctx context.Context, fs []FailedJob) (int, error) {
	now := c.now()
	retried := []byte(`"` + now.Format("2006/01/02 15:04:05") + `"`)
	done := 0
	for len(fs) > 0 {
		b := fs[:min(len(fs), failedBatch)]
		fs = fs[len(b):]
		keys := []any{c.keys.Failed(), c.keys.Queues()}
		args := []any{"retry", failedSearchWindow, ""}
		for _, f := range b {
			if len(f.Payload) == 0 {
				return done, fmt.Errorf("resque: retry failed job %d: %w", f.Index, ErrNoPayload)
			}
			if f.Queue == "" {
				return done, fmt.Errorf("resque: retry failed job %d: the record names no queue", f.Index)
			}
			rec, err := setTopLevelField(f.Raw, "retried_at", retried)
			if err != nil {
				return done, fmt.Errorf("resque: retry failed job %d: %w", f.Index, err)
			}
			statusKey, packet := c.keys.Failed(), ""
			if j, err := decodePayload(f.Queue, f.Payload); err == nil && j.ID != "" {
				statusKey, packet = c.keys.JobStatus(j.ID, j.Prefix), string(statusPacketWaiting(c.dialect, now))
			}
			keys = append(keys, c.keys.Queue(f.Queue), statusKey)
			args = append(args, f.Index, f.Raw, rec, f.Queue, []byte(f.Payload), packet)
		}
		n, err := c.failedOp(ctx, keys, args)
		done += n
		if err != nil {
			return done, fmt.Errorf("resque: retry failed jobs: %w", err)
		}
	}
	return done, nil
}

// RemoveFailedJobs removes many records as RemoveFailed does, each atomically, in batches.
// It returns how many were removed; records no longer in the list are skipped. Give the
// records in ascending index order: batches are applied from the last one backwards, so a
// batch's removals never shift the records of the batches still to come.
func (c *Client) RemoveFailedJobs(ctx context.Context, fs []FailedJob) (int, error) {
	var tok [12]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return 0, fmt.Errorf("resque: remove failed jobs: %w", err)
	}
	tomb := "goresque:removed:" + hex.EncodeToString(tok[:])
	done := 0
	for len(fs) > 0 {
		b := fs[max(0, len(fs)-failedBatch):]
		fs = fs[:len(fs)-len(b)]
		keys := []any{c.keys.Failed(), c.keys.Queues()}
		args := []any{"remove", failedSearchWindow, tomb}
		for _, f := range b {
			keys = append(keys, c.keys.Failed(), c.keys.Failed())
			args = append(args, f.Index, f.Raw, "", "", "", "")
		}
		n, err := c.failedOp(ctx, keys, args)
		done += n
		if err != nil {
			return done, fmt.Errorf("resque: remove failed jobs: %w", err)
		}
	}
	return done, nil
}

func (c *Client) failedOp(ctx context.Context, keys, args []any) (int, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	res, err := redis.Int64s(failedOpScript.DoContext(ctx, conn, append(append([]any{len(keys)}, keys...), args...)...))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, at := range res {
		if at >= 0 {
			n++
		}
	}
	return n, nil
}

// setTopLevelField returns the JSON object obj with field name set to the JSON value val:
// an existing field's value is replaced in place, otherwise the field is appended before the
// closing brace. Every other byte stays as it was, so the record remains what its writer
// (PHP, Ruby or goresque) made it.
func setTopLevelField(obj []byte, name string, val []byte) ([]byte, error) {
	i := phpjson.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, errors.New("record is not a JSON object")
	}
	i = phpjson.SkipSpace(obj, i+1)
	empty := i < len(obj) && obj[i] == '}'
	for !empty {
		key, vstart, err := phpjson.Key(obj, i)
		if err != nil {
			return nil, fmt.Errorf("record is not JSON: %w", err)
		}
		vend, err := skipValue(obj, vstart)
		if err != nil {
			return nil, fmt.Errorf("record is not JSON: %w", err)
		}
		if jsonKey(key) == name {
			out := make([]byte, 0, len(obj)+len(val))
			out = append(append(append(out, obj[:vstart]...), val...), obj[vend:]...)
			return out, nil
		}
		i = phpjson.SkipSpace(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i = phpjson.SkipSpace(obj, i+1)
			continue
		}
		if i < len(obj) && obj[i] == '}' {
			break
		}
		return nil, errors.New("record is not JSON: expected ',' or '}'")
	}
	// i is at the closing brace.
	out := make([]byte, 0, len(obj)+len(name)+len(val)+4)
	out = append(out, obj[:i]...)
	if !empty {
		out = append(out, ',')
	}
	out, _ = phpjson.AppendString(out, name)
	out = append(out, ':')
	out = append(out, val...)
	return append(out, obj[i:]...), nil
}

// FailedJobByID returns the newest failure record of the job with id, searching the failed
// list from its tail, newest first; ok is false when there is none. It lets `status` of a
// failed job say why it failed: php-resque's status packet holds only the code.
func (c *Client) FailedJobByID(ctx context.Context, id string) (f FailedJob, ok bool, err error) {
	if id == "" {
		return f, false, nil
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return f, false, fmt.Errorf("resque: failed job by id: %w", err)
	}
	defer conn.Close()
	n, err := redis.Int64(conn.Do("LLEN", c.keys.Failed()))
	if err != nil {
		return f, false, fmt.Errorf("resque: failed job by id: %w", err)
	}
	needle := []byte(id)
	for stop := n - 1; stop >= 0; stop -= dequeueChunk {
		start := max(stop-dequeueChunk+1, 0)
		recs, err := redis.ByteSlices(conn.Do("LRANGE", c.keys.Failed(), start, stop))
		if err != nil {
			return f, false, fmt.Errorf("resque: failed job by id: %w", err)
		}
		for i := len(recs) - 1; i >= 0; i-- {
			if !bytes.Contains(recs[i], needle) {
				continue
			}
			fj := decodeFailedJob(start+int64(i), recs[i])
			if j, err := decodePayload(fj.Queue, fj.Payload); err == nil && j.ID == id {
				return fj, true, nil
			}
		}
	}
	return f, false, nil
}
