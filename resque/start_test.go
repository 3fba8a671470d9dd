package resque

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// runWorker runs a worker whose startDelay is d until the test ends.
func (b *testBundle) runWorker(t *testing.T, cfg Config, d time.Duration) *Worker {
	t.Helper()
	w, err := NewWorker(b.pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.startDelay = d
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		w.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// A job that finishes within startDelay has its start carried by the call that records
// its outcome: one script call per job, not two, and still every write php-resque makes
// (status running, v1.3.6's pid key set and removed), in its order.
func TestShortJobStartCarriedByOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lines, stop := b.srv.Monitor(t)
	defer stop()
	const n = 20
	var ids []string
	for i := range n {
		id, err := b.client.Enqueue(context.Background(), "q", "Noop", []any{i}, EnqueueOptions{Track: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	mux := NewMux()
	mux.HandleFunc("Noop", func(context.Context, *Job) error { return nil })
	cfg := b.config(t, mux, "q")
	cfg.Dialect = DialectPHPResque136
	b.runWorker(t, cfg, time.Hour) // every start waits for its job's outcome
	b.waitFor(t, "all processed", func() bool { return b.processed(t) == n })
	if _, err := b.conn.Do("ECHO", b.ns+"end"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got = got[:0]
		end := false
		for _, l := range lines() {
			if strings.Contains(l, b.ns) {
				got = append(got, l)
				end = end || l == `"ECHO" "`+b.ns+`end"`
			}
		}
		if end {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("MONITOR did not show the end marker")
		}
	}
	startCalls, hdels := 0, 0
	for _, l := range got {
		if strings.HasPrefix(strings.ToLower(l), `"evalsha" "`+startScript.Hash()+`"`) {
			startCalls++
		}
		if strings.HasPrefix(l, `"HDEL" "`+b.keys.InFlight()+`"`) {
			hdels++
		}
	}
	// The finished job's in-flight field is overwritten by the next claim; only the last
	// job's is deleted.
	if hdels != 1 {
		t.Errorf("%d HDEL of the in-flight field for %d jobs; want 1 (the next claim replaces it)", hdels, n)
	}
	if startCalls != 0 {
		t.Errorf("startScript called %d times for %d jobs shorter than startDelay; want their starts carried by the outcome", startCalls, n)
	}
	for _, id := range ids {
		statusKey, pidKey := b.keys.JobStatus(id, ""), b.keys.JobPID(id)
		var seq []string
		for _, l := range got {
			switch {
			case strings.HasPrefix(l, `"SET" "`+pidKey+`"`):
				seq = append(seq, "SET pid")
			case strings.HasPrefix(l, `"DEL" "`+pidKey+`"`):
				seq = append(seq, "DEL pid")
			case strings.HasPrefix(l, `"SET" "`+statusKey+`" "{\"status\":2,`):
				seq = append(seq, "SET running")
			case strings.HasPrefix(l, `"SET" "`+statusKey+`" "{\"status\":4,`):
				seq = append(seq, "SET complete")
			}
		}
		if s := strings.Join(seq, ", "); s != "SET pid, SET running, SET complete, DEL pid" {
			t.Errorf("job %s: writes %q; want the pid key set, status running, complete, the pid key removed", id, s)
		}
		st, err := b.client.Status(context.Background(), id, "")
		if err != nil || st.Status != StatusComplete {
			t.Errorf("job %s: status %+v, %v; want complete", id, st, err)
		}
	}
}

// An untracked job gets no status key from a carried start either.
func TestShortJobStartCarriedUntracked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, err := b.client.Enqueue(context.Background(), "q", "Noop", nil, EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux()
	mux.HandleFunc("Noop", func(context.Context, *Job) error { return nil })
	b.runWorker(t, b.config(t, mux, "q"), time.Hour)
	b.waitFor(t, "processed", func() bool { return b.processed(t) == 1 })
	if n, _ := redis.Int(b.conn.Do("EXISTS", b.keys.JobStatus(id, ""))); n != 0 {
		t.Errorf("an untracked job got a status key")
	}
}

// A job running longer than startDelay shows as running while it runs.
func TestLongJobStartSentWhileRunning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, err := b.client.Enqueue(context.Background(), "q", "Wait", nil, EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("Wait", func(context.Context, *Job) error { <-release; return nil })
	b.runWorker(t, b.config(t, mux, "q"), 5*time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		st, err := b.client.Status(context.Background(), id, "")
		if err == nil && st.Status == StatusRunning {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("the running job's status is %+v, %v; want running", st, err)
		}
	}
	close(release)
	b.waitFor(t, "processed", func() bool { return b.processed(t) == 1 })
	st, err := b.client.Status(context.Background(), id, "")
	if err != nil || st.Status != StatusComplete {
		t.Errorf("status %+v, %v; want complete", st, err)
	}
}
