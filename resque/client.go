package resque

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/phpjson"
)

// Client enqueues jobs and reads php-resque's records, for producers and tools. It is
// safe for concurrent use.
type Client struct {
	pool    *redis.Pool
	keys    Keys
	dialect Dialect
	now     func() time.Time
}

// ClientConfig configures a Client, as Config does a Worker.
type ClientConfig struct {
	// Namespace is the key prefix; "" means "resque:" (php-resque's default).
	Namespace string
	// Dialect is the php-resque flavour whose payloads and dates Enqueue writes.
	Dialect Dialect
}

// NewClient returns a Client for cfg. The caller owns pool.
func NewClient(pool *redis.Pool, cfg ClientConfig) *Client {
	return &Client{pool: pool, keys: NewKeys(cfg.Namespace), dialect: cfg.Dialect, now: time.Now}
}

// Keys returns the client's key builder.
func (c *Client) Keys() Keys { return c.keys }

// EnqueueOptions are the optional arguments of Resque::enqueue.
type EnqueueOptions struct {
	// Track creates the job's status key (Resque::enqueue's 4th argument, $trackStatus).
	Track bool
	// Prefix is resque/php-resque v1.3.6's 5th argument: stored in the payload and put in
	// front of the id in the status key (job:<prefix>_<id>:status, golden 29). Only the
	// v1.3.6 dialect writes it.
	Prefix string
}

// Enqueue pushes a job exactly as PHP's Resque::enqueue($queue, $class, $args, $track)
// does (golden 01–05, 29): SADD queues, RPUSH queue:<queue> with the payload
// {"class","args":[args],"id","queue_time"} ("prefix" too in v1.3.6), then, when tracked,
// SET job:<id>:status {"status":1,...}; all in one round trip. It returns the new job id.
//
// args is what PHP would pass: nil, a map, a PHPObject (ordered), a slice, a struct or a
// json.RawMessage; it is encoded as PHP's json_encode writes the equivalent PHP array.
// Unlike php-resque, which pushes nothing yet returns an id when json_encode fails
// (golden 35, chrisboulton/php-resque#344), Enqueue returns an error and writes nothing;
// and when Redis refuses one of the writes, it returns an error and undoes the others
// (see withdraw).
func (c *Client) Enqueue(ctx context.Context, queue, class string, args any, opt EnqueueOptions) (string, error) {
	if queue == "" {
		return "", errors.New("resque: enqueue: empty queue name")
	}
	if class == "" {
		return "", errors.New("resque: enqueue: empty class name")
	}
	if c.dialect != DialectPHPResque136 && opt.Prefix != "" {
		return "", errors.New("resque: enqueue: a status prefix needs the php-resque-136 dialect")
	}
	id := NewJobID()
	now := c.now()
	payload, err := encodePayload(nil, c.dialect, class, args, id, opt.Prefix, now)
	if err != nil {
		return "", fmt.Errorf("resque: enqueue %s: %w", class, err)
	}
	if _, err := phpjson.AppendString(nil, queue); err != nil {
		return "", fmt.Errorf("resque: enqueue: queue name: %w", err)
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return "", fmt.Errorf("resque: enqueue: %w", err)
	}
	defer conn.Close()
	queueKey, statusKey := c.keys.Queue(queue), c.keys.JobStatus(id, opt.Prefix)
	if err := conn.Send("SADD", c.keys.Queues(), queue); err != nil {
		return "", fmt.Errorf("resque: enqueue: %w", err)
	}
	if err := conn.Send("RPUSH", queueKey, payload); err != nil {
		return "", fmt.Errorf("resque: enqueue: %w", err)
	}
	if opt.Track {
		if err := conn.Send("SET", statusKey, statusPacketWaiting(c.dialect, now)); err != nil {
			return "", fmt.Errorf("resque: enqueue: %w", err)
		}
	}
	replies, err := pipelined(conn)
	if err == nil {
		return id, nil
	}
	if len(replies) == 0 {
		// The connection failed: whether Redis applied the commands is unknown.
		return "", fmt.Errorf("resque: enqueue %s to %s: %w (the job may have been queued)", class, queue, err)
	}
	return c.withdraw(conn, id, queueKey, statusKey, payload, replies, err)
}

// withdraw undoes the part of an enqueue Redis applied when another part was refused
// (READONLY replica, OOM, a key of the wrong type): redigo reports each command's error in
// the reply slice, and php-resque's Resque::enqueue never looks, returning an id for a job
// that was not queued. The status key is deleted (a "waiting" status must not stay forever
// for a job that does not exist), and a payload that was pushed is removed again, so the
// caller can retry without a duplicate. The queues set keeps the name, as php-resque
// leaves it.
//
// If a worker took the job before it could be removed, the job exists: the id is returned
// with the error.
func (c *Client) withdraw(conn redis.Conn, id, queueKey, statusKey string, payload []byte, replies []any, cause error) (string, error) {
	pushed := len(replies) > 1 && replies[1] != nil && !isRedisError(replies[1])
	statusSet := len(replies) > 2 && !isRedisError(replies[2])
	var undo error
	if statusSet {
		if _, err := conn.Do("DEL", statusKey); err != nil {
			undo = err
		}
	}
	if pushed {
		n, err := redis.Int(conn.Do("LREM", queueKey, -1, payload))
		switch {
		case err != nil:
			undo = err
		case n == 0:
			return id, fmt.Errorf("resque: enqueue: job %s was queued and already taken by a worker, but part of the enqueue failed: %w", id, cause)
		}
	}
	if undo != nil {
		return "", fmt.Errorf("resque: enqueue failed (%w) and could not be undone: %v", cause, undo)
	}
	return "", fmt.Errorf("resque: enqueue refused by redis, nothing queued: %w", cause)
}

func isRedisError(v any) bool {
	_, ok := v.(redis.Error)
	return ok
}
