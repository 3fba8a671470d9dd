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

// payloadFields are the fields php-resque reads from a payload (Resque_Job::$payload).
// Everything is kept raw: the payload bytes themselves are never re-encoded.
type payloadFields struct {
	Class     json.RawMessage `json:"class"`
	Args      json.RawMessage `json:"args"`
	ID        json.RawMessage `json:"id"`
	Prefix    json.RawMessage `json:"prefix"`
	QueueTime json.RawMessage `json:"queue_time"`
}

// decodePayload parses raw into a Job for queue. It accepts every producer's shape: PHP's
// {"class","args":[A],"id","queue_time"} (v1.3.6 adds "prefix"), Ruby's and goworker's
// {"class","args":[...]} without id, and unknown extra fields. It rejects what no PHP job
// could run: not JSON, not an object, no class, args that are not an array.
func decodePayload(queue string, raw []byte) (*Job, error) {
	j := &Job{Queue: queue, raw: raw}
	if !utf8.Valid(raw) {
		return j, &PayloadError{Reason: "not valid UTF-8"}
	}
	var f payloadFields
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field == "" {
			return j, &PayloadError{Reason: "not a JSON object"}
		}
		return j, &PayloadError{Reason: "not JSON", Err: err}
	}
	if dec.More() {
		return j, &PayloadError{Reason: "not JSON", Err: errors.New("data after the top-level value")}
	}
	if isNull(f.Class) {
		return j, &PayloadError{Reason: `no "class" field`}
	}
	if err := json.Unmarshal(f.Class, &j.Class); err != nil {
		return j, &PayloadError{Reason: `"class" is not a string`}
	}
	if j.Class == "" {
		return j, &PayloadError{Reason: `"class" is empty`}
	}
	if !isNull(f.Args) {
		if f.Args[0] != '[' {
			return j, &PayloadError{Reason: `"args" is not an array`}
		}
		if err := json.Unmarshal(f.Args, &j.args); err != nil {
			return j, &PayloadError{Reason: `"args" is not an array`, Err: err}
		}
	}
	j.ID = scalarString(f.ID)
	j.Prefix = scalarString(f.Prefix)
	if len(f.QueueTime) > 0 {
		if v, err := strconv.ParseFloat(string(f.QueueTime), 64); err == nil {
			sec := int64(v)
			j.QueueTime = time.Unix(sec, int64((v-float64(sec))*1e9)).Round(time.Microsecond)
		}
	}
	return j, nil
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
	if dst, err = appendPHPString(dst, class); err != nil {
		return nil, fmt.Errorf("class: %w", err)
	}
	dst = append(dst, `,"args":[`...)
	if dst, err = encodePHPJSON(dst, args); err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	dst = append(dst, `],"id":`...)
	if dst, err = appendPHPString(dst, id); err != nil {
		return nil, fmt.Errorf("id: %w", err)
	}
	if d == DialectPHPResque136 {
		dst = append(dst, `,"prefix":`...)
		if dst, err = appendPHPString(dst, prefix); err != nil {
			return nil, fmt.Errorf("prefix: %w", err)
		}
	}
	dst = append(dst, `,"queue_time":`...)
	dst = appendPHPMicrotime(dst, queueTime)
	return append(dst, '}'), nil
}
