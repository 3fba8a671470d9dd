package resque

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/goresque/goresque/internal/phpjson"
)

// A PayloadError says why a queue item cannot be run as a job. The item still goes to
// `failed`, with its raw bytes, under the exception name ExceptionInvalidPayload.
type PayloadError struct {
	Reason string
	Err    error
}

func (e *PayloadError) Error() string { return "resque: " + e.message() }

// message is the error without the package prefix: the failure record's message.
func (e *PayloadError) message() string {
	if e.Err != nil {
		return "invalid job payload: " + e.Reason + ": " + e.Err.Error()
	}
	return "invalid job payload: " + e.Reason
}

func (e *PayloadError) Unwrap() error { return e.Err }

// decodePayload parses raw into a Job for queue. It accepts every producer's shape: PHP's
// {"class","args":[A],"id","queue_time"} (v1.3.6 adds "prefix"), Ruby's and goworker's
// {"class","args":[...]} without id, and unknown extra fields. It rejects what no PHP job
// could run: not JSON, invalid UTF-8, nested deeper than PHP's json_decode accepts, not an
// object, no class, args that are not an array.
//
// It scans the top level itself instead of using encoding/json: this runs for every job,
// and the fields it needs are kept as slices of raw, never copied or re-encoded. Values are
// validated by phpjson.Skip, the scanner of PHP's json_decode, so goresque runs exactly the
// payloads PHP can decode (encoding/json would also accept lone UTF-16 surrogate escapes,
// which make json_decode fail) and refuses those nested deeper than json_decode accepts.
func decodePayload(queue string, raw []byte) (*Job, error) {
	j := &Job{Queue: queue, raw: raw}
	if !utf8.Valid(raw) {
		return j, &PayloadError{Reason: "not valid UTF-8"}
	}
	i := phpjson.SkipSpace(raw, 0)
	if i >= len(raw) {
		return j, &PayloadError{Reason: "empty"}
	}
	if raw[i] != '{' {
		end, err := skipValue(raw, i)
		if err == nil && phpjson.SkipSpace(raw, end) != len(raw) {
			err = errors.New("data after the top-level value")
		}
		if err != nil {
			return j, &PayloadError{Reason: "not JSON", Err: err}
		}
		return j, &PayloadError{Reason: "not a JSON object"}
	}
	var class, args, id, prefix, qtime, attempt []byte
	i = phpjson.SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			key, vstart, err := phpjson.Key(raw, i)
			if err != nil {
				return j, &PayloadError{Reason: "not JSON", Err: err}
			}
			vend, err := skipValue(raw, vstart)
			if err != nil {
				return j, &PayloadError{Reason: "not JSON", Err: err}
			}
			v := raw[vstart:vend]
			switch jsonKey(key) {
			case "class":
				class = v
			case "args":
				args = v
			case "id":
				id = v
			case "prefix":
				prefix = v
			case "queue_time":
				qtime = v
			case attemptKey:
				attempt = v
			}
			i = phpjson.SkipSpace(raw, vend)
			if i < len(raw) && raw[i] == ',' {
				i = phpjson.SkipSpace(raw, i+1)
				continue
			}
			if i < len(raw) && raw[i] == '}' {
				i++
				break
			}
			_, err = skipValue(raw, 0) // names the error as json_decode would
			return j, &PayloadError{Reason: "not JSON", Err: err}
		}
	}
	if phpjson.SkipSpace(raw, i) != len(raw) {
		return j, &PayloadError{Reason: "not JSON", Err: errors.New("data after the top-level value")}
	}
	if isNull(class) {
		return j, &PayloadError{Reason: `no "class" field`}
	}
	if class[0] != '"' {
		return j, &PayloadError{Reason: `"class" is not a string`}
	}
	if j.Class = phpjson.Unquote(class); j.Class == "" {
		return j, &PayloadError{Reason: `"class" is empty`}
	}
	if !isNull(args) {
		if args[0] != '[' {
			return j, &PayloadError{Reason: `"args" is not an array`}
		}
		j.args = jsonElements(args)
	}
	j.ID = scalarString(id)
	j.Prefix = scalarString(prefix)
	if n, err := strconv.Atoi(string(attempt)); err == nil && n > 1 {
		j.attempt = n
	}
	if len(qtime) > 0 {
		if v, err := strconv.ParseFloat(string(qtime), 64); err == nil {
			sec := int64(v)
			j.QueueTime = time.Unix(sec, int64((v-float64(sec))*1e9)).Round(time.Microsecond)
		}
	}
	return j, nil
}

// jsonKey returns an object key's text; keys with escapes are rare and take the slow path.
func jsonKey(k []byte) string {
	if bytes.IndexByte(k, '\\') < 0 {
		return string(k[1 : len(k)-1])
	}
	return phpjson.Unquote(k)
}

// jsonElements splits a JSON array that skipValue accepted into its elements.
func jsonElements(arr []byte) []json.RawMessage {
	var out []json.RawMessage
	i := phpjson.SkipSpace(arr, 1)
	if arr[i] == ']' {
		return out
	}
	for {
		end, _ := skipValue(arr, i)
		out = append(out, json.RawMessage(arr[i:end]))
		i = phpjson.SkipSpace(arr, end)
		if arr[i] == ']' {
			return out
		}
		i = phpjson.SkipSpace(arr, i+1) // ','
	}
}

// skipValue returns the end of the JSON value at b[i], validated as json_decode does.
func skipValue(b []byte, i int) (int, error) { return skipValueDepth(b, i, phpjson.DecodeMaxNesting) }

// embeddable reports whether raw can be written inside a record PHP will json_decode: valid
// UTF-8 JSON that json_decode accepts, nested at most one level less than PHP accepts (the
// record adds one).
func embeddable(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	i := phpjson.SkipSpace(raw, 0)
	end, err := skipValueDepth(raw, i, phpjson.DecodeMaxNesting-1)
	return err == nil && phpjson.SkipSpace(raw, end) == len(raw)
}

// skipValueDepth is phpjson.Skip with the depth error spelled for people reading a failed
// entry: it names the limit and where it comes from.
func skipValueDepth(b []byte, i, maxDepth int) (int, error) {
	end, err := phpjson.Skip(b, i, maxDepth)
	if errors.Is(err, phpjson.ErrDepth) {
		err = fmt.Errorf("nested deeper than %d levels (PHP's json_decode limit): %w", maxDepth, err)
	}
	return end, err
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

// scalarString is what PHP gets from concatenating a payload field into a key name: a
// string as is, a number as written; anything else counts as absent. r was validated by
// skipValue.
func scalarString(r json.RawMessage) string {
	if len(r) == 0 {
		return ""
	}
	switch r[0] {
	case '"':
		return phpjson.Unquote(r)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(r)
	}
	return ""
}

// NewJobID returns a job id in php-resque's form: 32 lowercase hex characters
// (php-resque uses md5(uniqid(”, true)); 16 random bytes give the same shape).
func NewJobID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("resque: crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// encodePayload writes the payload Resque::enqueue pushes (Resque_Job::create):
// {"class":C,"args":[A],"id":ID,"queue_time":T}, with "prefix":P before queue_time in the
// resque/php-resque v1.3.6 dialect. args is wrapped in a one-element array as PHP does.
func encodePayload(dst []byte, d Dialect, class string, args any, id, prefix string, queueTime time.Time) ([]byte, error) {
	var err error
	dst = append(dst, `{"class":`...)
	if dst, err = phpjson.AppendString(dst, class); err != nil {
		return nil, fmt.Errorf("class: %w", err)
	}
	dst = append(dst, `,"args":[`...)
	start := len(dst)
	if dst, err = phpjson.Encode(dst, args); err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	// Resque_Job::create accepts only an array or null: "Supplied $args must be an array."
	if a := dst[start:]; a[0] != '[' && a[0] != '{' && string(a) != "null" {
		return nil, errors.New("args must be an array, an object or nil")
	}
	dst = append(dst, `],"id":`...)
	if dst, err = phpjson.AppendString(dst, id); err != nil {
		return nil, fmt.Errorf("id: %w", err)
	}
	if d == DialectPHPResque136 {
		dst = append(dst, `,"prefix":`...)
		if dst, err = phpjson.AppendString(dst, prefix); err != nil {
			return nil, fmt.Errorf("prefix: %w", err)
		}
	}
	dst = append(dst, `,"queue_time":`...)
	dst = phpjson.AppendMicrotime(dst, queueTime)
	return append(dst, '}'), nil
}
