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

func (e *PayloadError) Error() string {
	if e.Err != nil {
		return "resque: invalid job payload: " + e.Reason + ": " + e.Err.Error()
	}
	return "resque: invalid job payload: " + e.Reason
}

func (e *PayloadError) Unwrap() error { return e.Err }

// maxPayloadDepth is PHP's json_decode limit: a payload nested deeper cannot be decoded by
// php-resque (or by PHP tools reading goresque's records), so goresque refuses it too.
const maxPayloadDepth = 511

// decodePayload parses raw into a Job for queue. It accepts every producer's shape: PHP's
// {"class","args":[A],"id","queue_time"} (v1.3.6 adds "prefix"), Ruby's and goworker's
// {"class","args":[...]} without id, and unknown extra fields. It rejects what no PHP job
// could run: not JSON, invalid UTF-8, nested deeper than PHP's json_decode accepts, not an
// object, no class, args that are not an array.
//
// It scans the top level itself instead of using encoding/json: this runs for every job,
// and the fields it needs are kept as slices of raw, never copied or re-encoded.
func decodePayload(queue string, raw []byte) (*Job, error) {
	j := &Job{Queue: queue, raw: raw}
	if !utf8.Valid(raw) {
		return j, &PayloadError{Reason: "not valid UTF-8"}
	}
	i := jsonSpace(raw, 0)
	if i >= len(raw) {
		return j, &PayloadError{Reason: "empty"}
	}
	if raw[i] != '{' {
		end, err := jsonSkip(raw, i)
		if err == nil && jsonSpace(raw, end) != len(raw) {
			err = errors.New("data after the top-level value")
		}
		if err != nil {
			return j, &PayloadError{Reason: "not JSON", Err: err}
		}
		return j, &PayloadError{Reason: "not a JSON object"}
	}
	var class, args, id, prefix, qtime []byte
	i = jsonSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			key, vstart, err := jsonKeyAt(raw, i)
			if err != nil {
				return j, &PayloadError{Reason: "not JSON", Err: err}
			}
			vend, err := jsonSkip(raw, vstart)
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
			}
			i = jsonSpace(raw, vend)
			if i < len(raw) && raw[i] == ',' {
				i = jsonSpace(raw, i+1)
				continue
			}
			if i < len(raw) && raw[i] == '}' {
				i++
				break
			}
			return j, &PayloadError{Reason: "not JSON", Err: jsonErrAt(raw, i, "expected ',' or '}'")}
		}
	}
	if jsonSpace(raw, i) != len(raw) {
		return j, &PayloadError{Reason: "not JSON", Err: errors.New("data after the top-level value")}
	}
	if isNull(class) {
		return j, &PayloadError{Reason: `no "class" field`}
	}
	if class[0] != '"' {
		return j, &PayloadError{Reason: `"class" is not a string`}
	}
	if j.Class = jsonUnquote(class); j.Class == "" {
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
	return jsonUnquote(k)
}

// jsonUnquote decodes a JSON string token that jsonSkipString accepted.
func jsonUnquote(tok []byte) string {
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	_ = json.Unmarshal(tok, &s)
	return s
}

// jsonElements splits a JSON array that jsonSkip accepted into its elements.
func jsonElements(arr []byte) []json.RawMessage {
	var out []json.RawMessage
	i := jsonSpace(arr, 1)
	if arr[i] == ']' {
		return out
	}
	for {
		end, _ := jsonSkip(arr, i)
		out = append(out, json.RawMessage(arr[i:end]))
		i = jsonSpace(arr, end)
		if arr[i] == ']' {
			return out
		}
		i = jsonSpace(arr, i+1) // ','
	}
}

func jsonSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func jsonErrAt(b []byte, i int, what string) error {
	if i >= len(b) {
		return fmt.Errorf("unexpected end of JSON input (%s)", what)
	}
	return fmt.Errorf("invalid character %q at offset %d (%s)", b[i], i, what)
}

// jsonSkipString returns the end of the string token starting at b[i] == '"', checking its
// escapes and that it has no raw control characters (UTF-8 is checked once, up front).
func jsonSkipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, nil
		case c == '\\':
			j++
			if j >= len(b) {
				return 0, jsonErrAt(b, j, "unterminated string")
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return 0, jsonErrAt(b, len(b), "unterminated \\u escape")
				}
				for _, h := range b[j+1 : j+5] {
					if !isHex(h) {
						return 0, jsonErrAt(b, j, "bad \\u escape")
					}
				}
				j += 4
			default:
				return 0, jsonErrAt(b, j, "bad escape")
			}
		case c < 0x20:
			return 0, jsonErrAt(b, j, "control character in string")
		}
	}
	return 0, jsonErrAt(b, len(b), "unterminated string")
}

// jsonKeyAt reads an object key at b[i] and the colon after it; it returns the key token
// (quotes included) and where the value starts.
func jsonKeyAt(b []byte, i int) (key []byte, next int, err error) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, jsonErrAt(b, i, "expected a key")
	}
	end, err := jsonSkipString(b, i)
	if err != nil {
		return nil, 0, err
	}
	next = jsonSpace(b, end)
	if next >= len(b) || b[next] != ':' {
		return nil, 0, jsonErrAt(b, next, "expected ':'")
	}
	return b[i:end], jsonSpace(b, next+1), nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// jsonSkip returns the end of the JSON value starting at b[i], validating it. Nesting is
// tracked with a counter, not recursion, so hostile input cannot exhaust the stack.
func jsonSkip(b []byte, i int) (int, error) { return jsonSkipDepth(b, i, maxPayloadDepth) }

// embeddable reports whether raw can be written inside a record PHP will json_decode: valid
// UTF-8 JSON, nested at most one level less than PHP accepts (the record adds one).
func embeddable(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	i := jsonSpace(raw, 0)
	end, err := jsonSkipDepth(raw, i, maxPayloadDepth-1)
	return err == nil && jsonSpace(raw, end) == len(raw)
}

func jsonSkipDepth(b []byte, i, maxDepth int) (int, error) {
	var stack []byte // '[' or '{' per open level
	for {
		if i >= len(b) {
			return 0, jsonErrAt(b, i, "expected a value")
		}
		// A value.
		switch c := b[i]; {
		case c == '"':
			end, err := jsonSkipString(b, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return 0, fmt.Errorf("nested deeper than %d levels (PHP's json_decode limit)", maxDepth)
			}
			stack = append(stack, c)
			i = jsonSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				var err error
				if _, i, err = jsonKeyAt(b, i); err != nil {
					return 0, err
				}
			}
			continue
		case c == '-' || '0' <= c && c <= '9':
			end, ok := jsonSkipNumber(b, i)
			if !ok {
				return 0, jsonErrAt(b, i, "bad number")
			}
			i = end
		case bytes.HasPrefix(b[i:], []byte("true")):
			i += 4
		case bytes.HasPrefix(b[i:], []byte("false")):
			i += 5
		case bytes.HasPrefix(b[i:], []byte("null")):
			i += 4
		default:
			return 0, jsonErrAt(b, i, "expected a value")
		}
		// After a value: close levels or go on to the next element.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			i = jsonSpace(b, i)
			if i >= len(b) {
				return 0, jsonErrAt(b, i, "unterminated array or object")
			}
			top := stack[len(stack)-1]
			if top == '[' && b[i] == ']' || top == '{' && b[i] == '}' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return 0, jsonErrAt(b, i, "expected ',' or a closing bracket")
			}
			i = jsonSpace(b, i+1)
			if top == '{' {
				var err error
				if _, i, err = jsonKeyAt(b, i); err != nil {
					return 0, err
				}
			}
			break
		}
	}
}

// jsonSkipNumber returns the end of the JSON number at b[i].
func jsonSkipNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

// scalarString is what PHP gets from concatenating a payload field into a key name: a
// string as is, a number as written; anything else counts as absent.
func scalarString(r json.RawMessage) string {
	if len(r) == 0 {
		return ""
	}
	switch r[0] {
	case '"':
		var s string
		if json.Unmarshal(r, &s) == nil {
			return s
		}
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
