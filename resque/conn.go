package resque

import (
	"context"
	"errors"
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

// ctxConn binds every Do of a connection to ctx (redis.DoContext), for code that takes a
// plain redis.Conn: an unresponsive Redis (stopped, or a black-holed network with the
// connection still open) cannot hold such a call past ctx, where the connection's read
// timeout (30 s in the command's pool) would.
type ctxConn struct {
	redis.Conn
	ctx context.Context
}

func (c ctxConn) Do(cmd string, args ...any) (any, error) {
	return doContext(c.Conn, c.ctx, cmd, args...)
}

// doContext is redis.DoContext, falling back to Do for a connection that cannot take a
// context (a pool whose Dial wraps redigo's connections in a type of its own): such a
// worker works as before, with calls bounded by the connection's timeouts only.
func doContext(conn redis.Conn, ctx context.Context, cmd string, args ...any) (any, error) {
	v, err := redis.DoContext(conn, ctx, cmd, args...)
	if err != nil && err == errContextNotSupported {
		return conn.Do(cmd, args...)
	}
	return v, err
}

// errContextNotSupported is redigo's (unexported) error for a connection without
// DoContext, obtained from redigo itself rather than matched by its text.
var errContextNotSupported = func() error {
	_, err := redis.DoContext(plainConn{}, context.Background(), "")
	return err
}()

// plainConn is a redis.Conn without context support; it is never used to talk to Redis.
type plainConn struct{ redis.Conn }

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

// link tracks whether Redis is reachable and accepts the worker's commands, so that an
// outage is logged once when it begins and once when it ends, however many slots notice it
// (chrisboulton/php-resque#23: a network blip once wrote 380 GB of logs). A connection
// error (the server is gone, the network is down) and a command error (redis.Error: the
// server answers but refuses, as a read-only replica or one out of memory does) are
// logged as what they are, with their cause.
type link struct {
	log     zerolog.Logger
	obs     Observer // nil: none
	mu      sync.Mutex
	down    bool
	refused bool // down because Redis refuses commands, not because it is unreachable
	since   time.Time
	stall   time.Time // a reply has been awaited since then (zero: none)
	// slowAfter is how long a reply may take before the wait is logged (slowReply).
	slowAfter time.Duration
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
			if isCommandError(err) {
				return fmt.Errorf("redis refused the command: %w", err)
			}
			return fmt.Errorf("redis unreachable: %w", err)
		}
	}
}

// isCommandError reports whether err is Redis answering with an error, as opposed to the
// connection failing (net errors, EOF, timeouts), after which the command's fate is unknown.
func isCommandError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func (l *link) fail(err error) {
	if errors.Is(err, context.Canceled) {
		return // a stop cut the round trip short: not Redis failing
	}
	if l.obs != nil {
		l.obs.RedisError(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return // logged when it began; a restarting Redis first answers LOADING
	}
	refused := isCommandError(err)
	l.down, l.refused = true, refused
	l.since = time.Now()
	if refused {
		l.log.Error().Err(err).Msg("redis refuses the worker's commands; retrying every second")
	} else {
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
		msg := "redis reachable again"
		if l.refused {
			msg = "redis accepts the worker's commands again"
		}
		l.log.Info().Stringer("down_for", time.Since(l.since).Round(time.Millisecond)).Msg(msg)
	}
}

// roundTrip flushes what was sent on conn and reads every reply, logging a reply slower
// than slowAfter while it is awaited (stalled, then answered). *timer is the caller's,
// reused from one round trip to the next.
func (l *link) roundTrip(ctx context.Context, conn redis.Conn, timer **time.Timer) ([]any, error) {
	d := l.slowAfter
	if *timer == nil {
		*timer = time.AfterFunc(time.Hour, func() { l.stalled(d) })
	}
	(*timer).Reset(d)
	replies, err := redis.Values(doContext(conn, ctx, ""))
	if !(*timer).Stop() {
		l.answered()
	}
	return replies, err
}

// stalled logs, once for all slots, that a reply has been awaited for d.
func (l *link) stalled(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stall.IsZero() {
		l.stall = time.Now().Add(-d)
		l.log.Warn().Msgf("redis has not answered for %v (CLIENT PAUSE, a long script or command, or a stalled network); waiting", d)
	}
}

// answered ends what stalled began.
func (l *link) answered() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stall.IsZero() {
		l.log.Info().Stringer("waited", time.Since(l.stall).Round(time.Millisecond)).Msg("redis answers again")
		l.stall = time.Time{}
	}
}
