package resque

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

// dropFinishReplyConn loses, once, the reply of a cycle that finished a job and claimed
// the next: the script ran in Redis, the worker never hears of it and replays the step.
type dropFinishReplyConn struct {
	redis.Conn
	dropped *atomic.Bool
	broken  bool
}

func (c *dropFinishReplyConn) Do(cmd string, args ...any) (any, error) {
	if c.broken {
		return nil, errLostReply
	}
	v, err := c.Conn.Do(cmd, args...)
	if cmd != "" || err != nil {
		return v, err
	}
	replies, _ := v.([]any)
	if len(replies) == 0 {
		return v, err
	}
	cycle, ok := replies[len(replies)-1].([]any)
	if !ok || len(cycle) != cycleReplyLen {
		return v, err
	}
	fin, _ := redis.Int(cycle[0], nil)
	code, _ := redis.Int(cycle[1], nil)
	if fin != 1 || code < 0 || !c.dropped.CompareAndSwap(false, true) {
		return v, err
	}
	c.broken = true
	c.Conn.Close()
	return nil, errLostReply
}

func (c *dropFinishReplyConn) Err() error {
	if c.broken {
		return errLostReply
	}
	return c.Conn.Err()
}

// Issue 7 item 2, through a worker: two byte-identical payloads without id, claimed in the
// same second, and the reply of "finish #1 + claim #2" lost. On the old code the replay
// settled #2 as processed without running it (ran 1, processed 2).
func TestLostReplyDoesNotSettleAnIdenticalJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var dropped atomic.Bool
	pool := &redis.Pool{
		MaxIdle: 4,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, "unix", b.srv.Socket)
			if err != nil {
				return nil, err
			}
			return &dropFinishReplyConn{Conn: c, dropped: &dropped}, nil
		},
	}
	defer pool.Close()
	p := `{"class":"Noop","args":[]}`
	if _, err := b.conn.Do("RPUSH", b.keys.Queue("q"), p, p); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	mux := NewMux()
	mux.HandleFunc("Noop", func(ctx context.Context, j *Job) error { ran.Add(1); return nil })
	cfg := b.config(t, mux, "q")
	sameSecond := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cfg.now = func() time.Time { return sameSecond }
	w, err := NewWorker(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	b.waitFor(t, "both recorded", func() bool { return b.processed(t) >= 2 })
	time.Sleep(100 * time.Millisecond)
	w.Shutdown()
	waitRun(t, done, 5*time.Second)
	if !dropped.Load() {
		t.Fatal("no reply was dropped: the reproduction did not happen")
	}
	if ran.Load() != 2 || b.processed(t) != 2 {
		t.Errorf("ran %d, processed %d; want 2 and 2", ran.Load(), b.processed(t))
	}
}

// Issue 7 item 3, through a worker: `SET stat:processed abc` and one failing job used to
// give a failure record per retry (6 in 5.5 s) and a stalled worker logging "redis
// unreachable". Now: one failure record, the refused write logged once with its cause, and
// the next job performed.
func TestRefusedWriteIsLoggedNotReplayed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.conn.Do("SET", b.keys.Stat("processed"), "abc"); err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{"Fail", "Ok"} {
		if _, err := b.client.Enqueue(context.Background(), "q", class, nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var ok atomic.Int32
	mux := NewMux()
	mux.HandleFunc("Fail", func(ctx context.Context, j *Job) error { return errors.New("boom") })
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { ok.Add(1); return nil })
	var logs lockedBuffer
	cfg := b.config(t, mux, "q")
	cfg.Logger = zerolog.New(&logs)
	_, stop := b.start(t, cfg)
	b.waitFor(t, "the next job performed", func() bool { return ok.Load() == 1 })
	time.Sleep(300 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n, _ := redis.Int(b.conn.Do("LLEN", b.keys.Failed())); n != 1 {
		t.Errorf("%d failure records, want 1", n)
	}
	out := logs.String()
	if strings.Count(out, "WRONGTYPE")+strings.Count(out, "not an integer") != 1 || strings.Contains(out, "unreachable") {
		t.Errorf("want the refused write logged once with its cause, and no 'unreachable':\n%s", out)
	}
}

// Issue 7 item 3, through a worker: with QUEUE=bad,good and queue:bad a string, good was
// never worked. Now it is, and the bad key is logged once, by name.
func TestWrongTypeQueueIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.conn.Do("SET", b.keys.Queue("bad"), "x"); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	mux := NewMux()
	mux.HandleFunc("Ok", func(ctx context.Context, j *Job) error { ok.Add(1); return nil })
	var logs lockedBuffer
	cfg := b.config(t, mux, "bad", "good")
	cfg.Logger = zerolog.New(&logs)
	_, stop := b.start(t, cfg)
	for range 3 {
		if _, err := b.client.Enqueue(context.Background(), "good", "Ok", nil, EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	b.waitFor(t, "good queue worked", func() bool { return ok.Load() == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), b.keys.Queue("bad")+": WRONGTYPE"); n != 1 {
		t.Errorf("bad queue logged %d times, want once:\n%s", n, logs.String())
	}
}
