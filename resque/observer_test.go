package resque

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type recordingObserver struct {
	mu       sync.Mutex
	started  []string
	finished map[string]Status
	latency  map[string]time.Duration
}

func (o *recordingObserver) JobStarted(j *Job, start time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.started = append(o.started, j.Class)
	o.latency[j.Class] = start.Sub(j.QueueTime)
}

func (o *recordingObserver) JobFinished(j *Job, s Status, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[j.Class] = s
}

func (o *recordingObserver) RedisError(error)  {}
func (o *recordingObserver) RedisReconnected() {}

// TestObserverSeesEachJob: the worker tells its Observer each job's start (with the payload's
// queue_time) and the status it records: a DontPerform is not a failure, as in php-resque.
func TestObserverSeesEachJob(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for _, class := range []string{"Ok", "Bad", "Skip"} {
		if _, err := b.client.Enqueue(ctx, "default", class, nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mux := NewMux()
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { return nil })
	mux.HandleFunc("Bad", func(ctx context.Context, j *Job) error { return errors.New("bad") })
	mux.HandleFunc("Skip", func(ctx context.Context, j *Job) error { return ErrDontPerform })
	obs := &recordingObserver{finished: map[string]Status{}, latency: map[string]time.Duration{}}
	cfg := b.config(t, mux, "default")
	cfg.Observer = obs
	_, stop := b.start(t, cfg)
	b.waitFor(t, "three jobs", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return len(obs.finished) == 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"Ok": StatusComplete, "Bad": StatusFailed, "Skip": StatusComplete}
	for class, st := range want {
		if obs.finished[class] != st {
			t.Errorf("%s finished %v, want %v", class, obs.finished[class], st)
		}
		if l := obs.latency[class]; l <= 0 || l > time.Minute {
			t.Errorf("%s pickup latency %v", class, l)
		}
	}
	if len(obs.started) != 3 || obs.started[0] != "Ok" {
		t.Errorf("started %v", obs.started)
	}
}
