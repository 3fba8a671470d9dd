package resque

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
)

// QueuedJob is one payload waiting in a queue, as a dashboard pages through it. Raw keeps
// the exact bytes: they identify the entry for RemoveQueued (LREM compares bytes) the way
// resque-web's "remove" does.
type QueuedJob struct {
	Index int64  // position in the list, 0 = next to be taken
	Raw   []byte // the payload exactly as stored
	// Job is Raw decoded; nil when the payload is not one a worker could run (Err says why).
	Job *Job
	Err error
}

// QueueRange returns the payloads of queue at positions start..stop with LRANGE semantics
// (negative positions count from the tail), like Resque.peek in Ruby's resque-web.
func (c *Client) QueueRange(ctx context.Context, queue string, start, stop int64) ([]QueuedJob, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("resque: queue range: %w", err)
	}
	defer conn.Close()
	raws, err := redis.ByteSlices(conn.Do("LRANGE", c.keys.Queue(queue), start, stop))
	if err != nil {
		return nil, fmt.Errorf("resque: queue range %s: %w", queue, err)
	}
	first := start
	if first < 0 {
		n, err := redis.Int64(conn.Do("LLEN", c.keys.Queue(queue)))
		if err != nil {
			return nil, fmt.Errorf("resque: queue length %s: %w", queue, err)
		}
		first = max(n+start, 0)
	}
	out := make([]QueuedJob, len(raws))
	for i, raw := range raws {
		j, err := NewJob(queue, raw)
		if err != nil {
			j = nil
		}
		out[i] = QueuedJob{Index: first + int64(i), Raw: raw, Job: j, Err: err}
	}
	return out, nil
}

// QueueHead is the next job of a queue and when it was enqueued.
type QueueHead struct {
	Queue string
	// QueueTime is the payload's queue_time; zero when the queue is empty or the payload
	// carries none (Ruby- and goworker-pushed jobs).
	QueueTime time.Time
	Empty     bool
}

// QueueHeads reads the first payload of each queue (LINDEX 0, one round trip) and its
// queue_time: the age of a queue's oldest job, which neither php-resque nor resque-web
// shows, is the first sign of workers falling behind.
func (c *Client) QueueHeads(ctx context.Context, queues []string) ([]QueueHead, error) {
	if len(queues) == 0 {
		return nil, nil
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("resque: queue heads: %w", err)
	}
	defer conn.Close()
	for _, q := range queues {
		if err := conn.Send("LINDEX", c.keys.Queue(q), 0); err != nil {
			return nil, fmt.Errorf("resque: queue heads: %w", err)
		}
	}
	vals, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, fmt.Errorf("resque: queue heads: %w", err)
	}
	out := make([]QueueHead, len(queues))
	for i, q := range queues {
		out[i].Queue = q
		raw, err := redis.Bytes(vals[i], nil)
		if errors.Is(err, redis.ErrNil) {
			out[i].Empty = true
			continue
		}
		var re redis.Error
		if errors.As(err, &re) {
			// Not a list (WRONGTYPE): workers skip such a queue; so does its age.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resque: queue head %s: %w", q, err)
		}
		if j, err := NewJob(q, raw); err == nil {
			out[i].QueueTime = j.QueueTime
		}
	}
	return out, nil
}

// RemoveQueued removes one entry of queue whose bytes are exactly raw (LREM count 1), as
// resque-web's per-job "remove" does. It returns 0 when a worker took the job first.
func (c *Client) RemoveQueued(ctx context.Context, queue string, raw []byte) (int64, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("resque: remove queued: %w", err)
	}
	defer conn.Close()
	n, err := redis.Int64(conn.Do("LREM", c.keys.Queue(queue), 1, raw))
	if err != nil {
		return 0, fmt.Errorf("resque: remove queued %s: %w", queue, err)
	}
	return n, nil
}
