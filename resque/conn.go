package resque

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

// pipelined flushes the commands queued with conn.Send and returns their replies, failing
// when any one of them failed. redigo hands back the error of each pipelined command (or
// of each command of an EXEC) as a redis.Error element of the reply slice with a nil
// error, so a caller that only checks Do's error believes a refused write (READONLY, OOM,
// WRONGTYPE) succeeded. The returned error wraps the first failing command's redis.Error
// and names its position, and the replies are returned too so the caller can compensate
// for the commands that did succeed.
func pipelined(conn redis.Conn) ([]any, error) {
	replies, err := redis.Values(conn.Do(""))
	if err != nil {
		return replies, err
	}
	if err := replyErr(replies); err != nil {
		return replies, err
	}
	return replies, nil
}

// replyErr returns the first redis.Error among replies, wrapped with its position.
func replyErr(replies []any) error {
	for i, r := range replies {
		if e, ok := r.(redis.Error); ok {
			return fmt.Errorf("command %d of %d: %w", i+1, len(replies), e)
		}
	}
	return nil
}

// backoff is the one retry delay of every Redis connection goresque keeps: capped
// exponential backoff with jitter (25-50 ms doubling up to 2.5-5 s), so a worker waiting
// for Redis uses no CPU to speak of.
type backoff struct{ delay time.Duration }

// wait sleeps for the next delay; it returns false, at once, when ctx is done.
func (b *backoff) wait(ctx context.Context) bool {
	if b.delay == 0 {
		b.delay = 50 * time.Millisecond
	}
	t := time.NewTimer(b.delay/2 + rand.N(b.delay/2+1))
	defer t.Stop()
	if b.delay < 5*time.Second {
		b.delay *= 2
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reset starts the next outage from the shortest delay again.
func (b *backoff) reset() { b.delay = 0 }

// link tracks whether Redis is reachable, so that an outage is logged once when it
// begins and once when it ends, however many slots notice it (chrisboulton/php-resque#23:
// a network blip once wrote 380 GB of logs).
type link struct {
	log   zerolog.Logger
	obs   Observer // nil: none
	mu    sync.Mutex
	down  bool
	since time.Time
}

// retry calls f until it succeeds or ctx is done, sleeping with backoff between attempts.
func (l *link) retry(ctx context.Context, f func() error) error {
	var b backoff
	for {
		err := f()
		if err == nil {
			l.up()
			return nil
		}
		l.fail(err)
		if !b.wait(ctx) {
			return fmt.Errorf("redis unreachable: %w", err)
		}
	}
}

func (l *link) fail(err error) {
	if l.obs != nil {
		l.obs.RedisError(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		l.down = true
		l.since = time.Now()
		l.log.Error().Err(err).Msg("redis unreachable; retrying with backoff")
	}
}

func (l *link) up() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		l.down = false
		if l.obs != nil {
			l.obs.RedisReconnected()
		}
		l.log.Info().Dur("down_for", time.Since(l.since)).Msg("redis reachable again")
	}
}
