package resque

import (
	"encoding/json"
	"strconv"
	"time"
)

// Status is a job status code of php-resque's Resque_Job_Status.
type Status int

// The status codes, as php-resque's STATUS_* constants.
const (
	StatusWaiting  Status = 1
	StatusRunning  Status = 2
	StatusFailed   Status = 3
	StatusComplete Status = 4
)

func (s Status) String() string {
	switch s {
	case StatusWaiting:
		return "waiting"
	case StatusRunning:
		return "running"
	case StatusFailed:
		return "failed"
	case StatusComplete:
		return "complete"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// statusTTL is php-resque's expiry of a finished status packet: 24 hours.
const statusTTL = 86400

// statusPacketWaiting is the status packet when a tracked job is enqueued:
// {"status":1,"updated":T,"started":T}, plus "result":null in v1.3.6 (golden 02).
func statusPacketWaiting(d Dialect, now time.Time) []byte {
	t := strconv.FormatInt(now.Unix(), 10)
	b := make([]byte, 0, 80)
	b = append(b, `{"status":1,"updated":`...)
	b = append(b, t...)
	b = append(b, `,"started":`...)
	b = append(b, t...)
	if d == DialectPHPResque136 {
		b = append(b, `,"result":null`...)
	}
	return append(b, '}')
}

// statusUpdate returns the packet for a status update in the head/tail form startScript
// takes: php-resque-1 writes {"status":N,"updated":T} and drops "started"; v1.3.6 writes
// {"status":N,"updated":T,"started":S,"result":R} with S copied from the current packet.
func statusUpdate(d Dialect, s Status, now time.Time, result []byte) (head, tail string, splice bool) {
	b := make([]byte, 0, 80)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(s), 10)
	b = append(b, `,"updated":`...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	if d == DialectPHPResque1 {
		return string(append(b, '}')), "", false
	}
	b = append(b, `,"started":`...)
	if result == nil {
		result = []byte("null")
	}
	return string(b), `,"result":` + string(result) + "}", true
}

// withAttempt adds the attempt number of a retried job (see Retry) to a status packet in
// head/tail form, as its last key: php-resque reads only the keys it knows, so the packet
// stays readable by Resque_Job_Status. The first attempt's packets are unchanged.
func withAttempt(head, tail string, attempt int) (string, string) {
	if attempt < 2 {
		return head, tail
	}
	return withKey(head, tail, `,"`+attemptKey+`":`+itoa(attempt))
}

// withImpl adds the side that ran a routed job (goresque_impl: "go" or "php") to a status
// packet in head/tail form, as withAttempt adds the attempt. A job of a class without a
// routing rule has only one side: its packets are unchanged.
func withImpl(head, tail string, job *Job) (string, string) {
	if !job.routed {
		return head, tail
	}
	return withKey(head, tail, `,"`+implKey+`":"`+job.impl+`"`)
}

// withKey appends add (`,"key":value`) as the packet's last key.
func withKey(head, tail, add string) (string, string) {
	if tail != "" {
		return head, tail[:len(tail)-1] + add + "}"
	}
	return head[:len(head)-1] + add + "}", tail
}

// JobStatus is a decoded status packet.
type JobStatus struct {
	Status  Status          `json:"status"`
	Updated int64           `json:"updated"`
	Started *int64          `json:"started,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	// Attempt is the attempt of a retried job (2 for the first retry; see Retry): while
	// waiting, the coming one. Zero for a job's first attempt.
	Attempt int `json:"goresque_attempt,omitempty"`
	// Implementation is the side that ran a routed job, ImplGo or ImplPHP (see
	// Mux.SetRoute); "" for a class without a routing rule.
	Implementation string `json:"goresque_impl,omitempty"`
}
