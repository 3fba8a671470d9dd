package resque

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Records written by real php-resque's Resque_Failure_Redis are listed, retried and removed.
func TestFailedJobsOfRealPHPResque(t *testing.T) {
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			e, php := newPHPEnv(t, d)
			for i := 0; i < 3; i++ {
				payload := fmt.Sprintf(`{"class":"App\\Mail","args":[{"n":%d,"url":"a/b"}],"id":"%032d","queue_time":1795728023.5}`, i, i)
				php.run("fail", "mail", payload, fmt.Sprintf("boom %d", i))
			}
			n, err := e.client.FailedCount(bg)
			if err != nil || n != 3 {
				t.Fatalf("FailedCount = %d, %v; want 3", n, err)
			}
			fs, err := e.client.FailedRange(bg, 0, -1)
			if err != nil || len(fs) != 3 {
				t.Fatalf("FailedRange = %d records, %v", len(fs), err)
			}
			raw := e.list("failed")
			for i, f := range fs {
				if f.Index != int64(i) || string(f.Raw) != raw[i] {
					t.Errorf("record %d: index %d, raw %q", i, f.Index, f.Raw)
				}
				if f.Class != `App\Mail` || f.Queue != "mail" || f.Exception != "Exception" || f.Error != fmt.Sprintf("boom %d", i) {
					t.Errorf("record %d: %+v", i, f)
				}
				if f.FailedAt.IsZero() || time.Since(f.FailedAt) > time.Minute {
					t.Errorf("record %d: failed_at %q parsed as %v", i, f.FailedAtRaw, f.FailedAt)
				}
				if len(f.Backtrace) == 0 || !strings.Contains(f.Backtrace[len(f.Backtrace)-1], "{main}") {
					t.Errorf("record %d: backtrace %q", i, f.Backtrace)
				}
				if !strings.HasPrefix(f.Worker, "") || !strings.HasSuffix(f.Worker, ":mail") {
					t.Errorf("record %d: worker %q", i, f.Worker)
				}
				want := fmt.Sprintf(`{"class":"App\\Mail","args":[{"n":%d,"url":"a\/b"}],"id":"%032d","queue_time":1795728023.5}`, i, i)
				if string(f.Payload) != want {
					t.Errorf("record %d: payload %s, want %s", i, f.Payload, want)
				}
			}

			if err := e.client.RetryFailed(bg, fs[1]); err != nil {
				t.Fatal(err)
			}
			if q := e.list("queue:mail"); len(q) != 1 || q[0] != string(fs[1].Payload) {
				t.Fatalf("queue after retry: %q, want the exact payload %s", q, fs[1].Payload)
			}
			if ok, _ := redis.Bool(e.do("SISMEMBER", e.ns+"queues", "mail"), nil); !ok {
				t.Error("retry did not add the queue to the queues set")
			}
			after := e.list("failed")
			if after[0] != raw[0] || after[2] != raw[2] {
				t.Error("retry changed other records")
			}
			wantRec := strings.TrimSuffix(raw[1], "}") + `,"retried_at":"`
			if !strings.HasPrefix(after[1], wantRec) || !strings.HasSuffix(after[1], `"}`) {
				t.Errorf("retried record %s, want the original with retried_at appended", after[1])
			}
			// Retrying the same (now stale) record again must not push the job twice.
			if err := e.client.RetryFailed(bg, fs[1]); !errors.Is(err, ErrFailedMoved) {
				t.Errorf("second retry of a stale record: %v, want ErrFailedMoved", err)
			}
			if q := e.list("queue:mail"); len(q) != 1 {
				t.Errorf("queue after the second retry: %d jobs", len(q))
			}
			// PHP still reads every record, the retried one included.
			var recs []map[string]any
			if err := json.Unmarshal(php.run("failed"), &recs); err != nil || len(recs) != 3 {
				t.Fatalf("PHP reads %d records: %v", len(recs), err)
			}
			if recs[1]["retried_at"] == nil || recs[1]["error"] != "boom 1" {
				t.Errorf("PHP reads the retried record as %v", recs[1])
			}

			if err := e.client.RemoveFailed(bg, fs[0]); err != nil {
				t.Fatal(err)
			}
			if got := e.list("failed"); len(got) != 2 || got[0] != after[1] || got[1] != raw[2] {
				t.Errorf("after removing record 0: %q", got)
			}
			// fs[2] was read at index 2; it is at 1 now and is still found.
			if err := e.client.RemoveFailed(bg, fs[2]); err != nil {
				t.Fatalf("remove of a record that moved up: %v", err)
			}
			if got := e.list("failed"); len(got) != 1 || got[0] != after[1] {
				t.Errorf("after removing record 2: %q", got)
			}
			if err := e.client.RemoveFailed(bg, fs[0]); !errors.Is(err, ErrFailedMoved) {
				t.Errorf("removing a removed record: %v, want ErrFailedMoved", err)
			}
		})
	}
}

// A record goresque wrote for a payload that is not JSON keeps the bytes in payload_base64;
// retrying pushes those exact bytes. A tracked job's status goes back to waiting.
func TestRetryFailedGoresqueRecords(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque136)
	bad := []byte("not json \xff")
	rec, err := failureRecord(DialectPHPResque136, time.Now(), bad, &JobError{Exception: ExceptionInvalidPayload, Message: "x"}, "h:1:q", "q")
	if err != nil {
		t.Fatal(err)
	}
	id := NewJobID()
	payload := `{"class":"Job","args":[null],"id":"` + id + `","prefix":"","queue_time":1795728023.5}`
	rec2, err := failureRecord(DialectPHPResque136, time.Now(), []byte(payload), &JobError{Exception: "Exception", Message: "y"}, "h:1:q", "q")
	if err != nil {
		t.Fatal(err)
	}
	e.do("RPUSH", e.ns+"failed", rec, rec2)
	e.do("SET", e.ns+"job:"+id+":status", `{"status":3,"updated":1,"started":1,"result":null}`, "EX", 100)
	fs, err := e.client.FailedRange(bg, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fs[0].Payload, bad) {
		t.Fatalf("payload %q, want the base64-kept bytes", fs[0].Payload)
	}
	n, err := e.client.RetryFailedJobs(bg, fs)
	if err != nil || n != 2 {
		t.Fatalf("RetryFailedJobs = %d, %v", n, err)
	}
	if q := e.list("queue:q"); len(q) != 2 || q[0] != string(bad) || q[1] != payload {
		t.Errorf("queue: %q", q)
	}
	st, err := e.client.Status(bg, id, "")
	if err != nil || st.Status != StatusWaiting {
		t.Errorf("status after retry: %+v, %v", st, err)
	}
	if ttl, _ := redis.Int(e.do("TTL", e.ns+"job:"+id+":status"), nil); ttl != -1 {
		t.Errorf("status TTL after retry: %d, want none", ttl)
	}
	f, ok, err := e.client.FailedJobByID(bg, id)
	if err != nil || !ok || f.Index != 1 || f.Error != "y" {
		t.Errorf("FailedJobByID = %+v, %v, %v", f, ok, err)
	}
}

// Ruby's records: failed_at in Ruby's form, retried_at already set (replaced, not repeated).
func TestRetryFailedRubyRecord(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque1)
	rec := `{"failed_at":"2026/11/26 21:11:39 UTC","payload":{"class":"RubyJob","args":[1,2]},"exception":"RuntimeError","error":"bad","backtrace":["a.rb:1"],"worker":"h:2:q","queue":"q","retried_at":"2026/11/26 21:12:00"}`
	e.do("RPUSH", e.ns+"failed", rec)
	fs, err := e.client.FailedRange(bg, 0, 0)
	if err != nil || len(fs) != 1 {
		t.Fatal(fs, err)
	}
	f := fs[0]
	if f.FailedAt != time.Date(2026, 11, 26, 21, 11, 39, 0, time.UTC) || f.RetriedAt != "2026/11/26 21:12:00" || f.Class != "RubyJob" {
		t.Errorf("%+v", f)
	}
	e.client.now = func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }
	if err := e.client.RetryFailed(bg, f); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(rec, "2026/11/26 21:12:00", "2026/12/01 10:00:00", 1)
	if got := e.list("failed"); got[0] != want {
		t.Errorf("record\n got %s\nwant %s", got[0], want)
	}
	if q := e.list("queue:q"); len(q) != 1 || q[0] != `{"class":"RubyJob","args":[1,2]}` {
		t.Errorf("queue %q", q)
	}
}

// Bulk removal while workers append: exactly the chosen records go, appended ones stay.
func TestRemoveFailedJobsWhileAppending(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque1)
	const n = 3000
	args := []any{e.ns + "failed"}
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf(`{"failed_at":"x","payload":{"class":"J","args":[%d]},"exception":"E","error":"e","backtrace":[],"worker":"w","queue":"q"}`, i))
	}
	e.do("RPUSH", args...)
	fs, err := e.client.FailedRange(bg, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var even []FailedJob
	for _, f := range fs {
		if f.Index%2 == 0 {
			even = append(even, f)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := server(t).Dial()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := 0; i < 500; i++ {
			if _, err := c.Do("RPUSH", e.ns+"failed", fmt.Sprintf(`{"new":%d}`, i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// Meanwhile another tool removes a few odd records, shifting indexes.
	if err := e.client.RemoveFailed(bg, fs[1]); err != nil {
		t.Fatal(err)
	}
	removed, err := e.client.RemoveFailedJobs(bg, even)
	wg.Wait()
	if err != nil || removed != n/2 {
		t.Fatalf("RemoveFailedJobs = %d, %v; want %d", removed, err, n/2)
	}
	got := e.list("failed")
	var old, appended int
	for _, r := range got {
		if strings.HasPrefix(r, `{"new"`) {
			appended++
			continue
		}
		old++
		var f struct {
			Payload struct{ Args []int } `json:"payload"`
		}
		if err := json.Unmarshal([]byte(r), &f); err != nil || f.Payload.Args[0]%2 == 0 || f.Payload.Args[0] == 1 {
			t.Fatalf("record %s should be gone", r)
		}
	}
	if old != n/2-1 || appended != 500 {
		t.Errorf("%d old records left (want %d), %d appended (want 500)", old, n/2-1, appended)
	}
}

func TestSetTopLevelField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`{}`, `{"retried_at":"T"}`},
		{`{"a":1}`, `{"a":1,"retried_at":"T"}`},
		{`{"a":{"retried_at":1},"b":[1]}`, `{"a":{"retried_at":1},"b":[1],"retried_at":"T"}`},
		{`{"retried_at":"old","x":"y"}`, `{"retried_at":"T","x":"y"}`},
		{` { "a" : 1 } `, ` { "a" : 1 ,"retried_at":"T"} `},
	} {
		got, err := setTopLevelField([]byte(c.in), "retried_at", []byte(`"T"`))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":1`} {
		if _, err := setTopLevelField([]byte(bad), "x", []byte("1")); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
