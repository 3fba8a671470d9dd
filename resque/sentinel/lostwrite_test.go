package sentinel_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// lagging makes the replica miss whatever the master writes next: it stops reading
// (SIGSTOP) and a 32 MB write fills the socket buffers between them, so the next writes
// stay in the master's memory and die with it. resume lets the replica go on.
func lagging(t *testing.T, h *redistest.HA, master, replica *redistest.Server) (resume func()) {
	t.Helper()
	if err := replica.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { replica.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	c, err := h.Conn(master)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do("SET", "junk", strings.Repeat("x", 32<<20)); err != nil {
		t.Fatal(err)
	}
	return resume
}

// failOver SIGKILLs master, resumes the replica and waits until it is promoted.
func failOver(t *testing.T, h *redistest.HA, master, replica *redistest.Server, resume func()) {
	t.Helper()
	master.Kill()
	resume()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m, err := h.Master(); err == nil && m == replica {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica was not promoted:\n%s", h.Sentinels[0].Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lostWriteRig is a worker reaching the HA through Sentinel, with a handler that counts
// its runs and holds the first one until release is closed.
type lostWriteRig struct {
	h       *redistest.HA
	pool    *redis.Pool
	client  *resque.Client
	mu      sync.Mutex
	runs    int
	started chan struct{}
	release chan struct{}
	stop    func()
}

func newLostWriteRig(t *testing.T) *lostWriteRig {
	h := redistest.StartHATB(t, redistest.HAOptions{DownAfter: 3 * time.Second})
	d := newDialer(t, h, "", "", nil)
	r := &lostWriteRig{h: h, pool: poolOf(d), started: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { r.pool.Close() })
	r.client = resque.NewClient(r.pool, resque.ClientConfig{Namespace: "lw", Dialect: resque.DialectPHPResque136})
	return r
}

func (r *lostWriteRig) start(t *testing.T) {
	mux := resque.NewMux()
	mux.HandleFunc("Held", func(ctx context.Context, j *resque.Job) error {
		r.mu.Lock()
		r.runs++
		first := r.runs == 1
		r.mu.Unlock()
		if first {
			close(r.started)
			<-r.release
		}
		return nil
	})
	w, err := resque.NewWorker(r.pool, resque.Config{Namespace: "lw", Queues: []string{"q"}, Interval: 100 * time.Millisecond, Handler: mux})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	r.stop = func() {
		w.Shutdown()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cancel()
			<-done
		}
		cancel()
	}
	t.Cleanup(r.stop)
}

func (r *lostWriteRig) Runs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs
}

// settled waits until job id is complete on the current master with nothing queued or in
// flight, and returns the number of runs.
func (r *lostWriteRig) settled(t *testing.T, id string) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := r.pool.Get()
		st, _ := redis.Bytes(c.Do("GET", "lw:job:"+id+":status"))
		q, _ := redis.Int(c.Do("LLEN", "lw:queue:q"))
		f, _ := redis.Int(c.Do("HLEN", "lw:goresque:inflight"))
		failed, _ := redis.Int(c.Do("LLEN", "lw:failed"))
		c.Close()
		var s struct {
			Status int `json:"status"`
		}
		_ = json.Unmarshal(st, &s)
		if resque.Status(s.Status) == resque.StatusComplete && q == 0 && f == 0 {
			if failed != 0 {
				t.Errorf("%d failure records", failed)
			}
			return r.Runs()
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not settled on the new master: status %s, queued %d, in flight %d, failed %d, runs %d", id, st, q, f, failed, r.Runs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLostOutcomeRunsAgain: a job's outcome written on the old master but lost in the
// failover (without WAIT) leaves its in-flight record on the promoted replica; the worker
// finds it, runs the job again and settles it there. A duplicate, not a loss: the README's
// "What survives a failover" row for outcomes.
func TestLostOutcomeRunsAgain(t *testing.T) {
	t.Parallel()
	r := newLostWriteRig(t)
	master, replica := r.h.Servers[0], r.h.Servers[1]
	id, err := r.client.Enqueue(context.Background(), "q", "Held", nil, resque.EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	r.start(t)
	<-r.started
	if err := r.h.WaitSynced(master, 10*time.Second); err != nil { // the claim is on the replica
		t.Fatal(err)
	}
	resume := lagging(t, r.h, master, replica)
	close(r.release)
	// The outcome reaches the master only.
	mc, err := r.h.Conn(master)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if n, _ := redis.Int(mc.Do("HLEN", "lw:goresque:inflight")); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the outcome did not reach the master")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mc.Close()
	// The outcome's reply is on its way to the worker: let it arrive before the master dies.
	// Killed before the worker read it, the worker would replay the outcome on the promoted
	// replica (its in-flight record is there, same claim token) and the job would rightly run
	// once; this test is about the other case, an outcome acknowledged and then lost.
	time.Sleep(500 * time.Millisecond)
	failOver(t, r.h, master, replica, resume)
	if runs := r.settled(t, id); runs != 2 {
		t.Errorf("the job ran %d times, want 2 (once more after its outcome was lost)", runs)
	}
}

// TestLostClaimRunsAgain: a claim written on the old master but lost in the failover leaves
// the job in its queue on the promoted replica: the worker's outcome for the first run is
// refused there (its in-flight record is gone), and the job is claimed and run again. A
// duplicate, not a loss: the README's row for claims.
func TestLostClaimRunsAgain(t *testing.T) {
	t.Parallel()
	r := newLostWriteRig(t)
	master, replica := r.h.Servers[0], r.h.Servers[1]
	id, err := r.client.Enqueue(context.Background(), "q", "Held", nil, resque.EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.h.WaitSynced(master, 10*time.Second); err != nil { // the job is on the replica
		t.Fatal(err)
	}
	resume := lagging(t, r.h, master, replica)
	r.start(t) // registers and claims on the master only
	<-r.started
	failOver(t, r.h, master, replica, resume)
	close(r.release)
	if runs := r.settled(t, id); runs != 2 {
		t.Errorf("the job ran %d times, want 2 (once more after its claim was lost)", runs)
	}
}
