package sentinel

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// NotReplicatedError is returned for a write the master applied but fewer than Want
// replicas acknowledged within the timeout. The write may survive or not: callers treat it
// like a reply lost with the connection (the worker finds its claim again; enqueue reports
// the failure), and the connection is broken so that the pool drops it.
type NotReplicatedError struct {
	Want, Got int
	Timeout   time.Duration
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("sentinel: write acknowledged by %d of %d replicas within %v (WAIT); it may be lost in a failover", e.Got, e.Want, e.Timeout)
}

// WaitReplicas wraps c so that a write is acknowledged only once n replicas have it: after
// every command (or flushed pipeline, or EXEC) that writes, it sends WAIT n timeout, as
// Redis' documentation advises for writes that must survive a failover. When fewer than n
// replicas acknowledge, the command returns a *NotReplicatedError (its reply is returned
// too) and the connection is broken (Err) from then on.
//
// goresque's writes are its enqueue pipeline, its claim/outcome script and its worker
// records; the reads are left alone. n <= 0 returns c unchanged.
func WaitReplicas(c redis.Conn, n int, timeout time.Duration) redis.Conn {
	if n <= 0 {
		return c
	}
	if timeout <= 0 {
		timeout = time.Second
	}
	return &waitConn{Conn: c, n: n, timeout: timeout}
}

type waitConn struct {
	redis.Conn
	n       int
	timeout time.Duration
	pending bool  // a write was sent and not yet waited for
	err     error // a WAIT fell short or failed: the connection is broken
}

func (c *waitConn) Err() error {
	if err := c.Conn.Err(); err != nil {
		return err
	}
	return c.err
}

func (c *waitConn) Send(cmd string, args ...any) error {
	if isWrite(cmd) {
		c.pending = true
	}
	return c.Conn.Send(cmd, args...)
}

// after waits for the replicas when cmd wrote, or when cmd is "" (a pipeline's flush) or
// any later command and earlier Sends wrote.
func (c *waitConn) after(cmd string, reply any, err error) (any, error) {
	if isWrite(cmd) {
		c.pending = true
	}
	if err != nil || !c.pending || c.err != nil {
		return reply, err
	}
	c.pending = false
	got, werr := redis.Int(c.Conn.Do("WAIT", c.n, c.timeout.Milliseconds()))
	if werr != nil {
		c.err = fmt.Errorf("sentinel: WAIT: %w", werr)
		return reply, c.err
	}
	if got < c.n {
		c.err = &NotReplicatedError{Want: c.n, Got: got, Timeout: c.timeout}
		return reply, c.err
	}
	return reply, nil
}

func (c *waitConn) Do(cmd string, args ...any) (any, error) {
	if c.err != nil {
		return nil, c.err
	}
	r, err := c.Conn.Do(cmd, args...)
	return c.after(cmd, r, err)
}

func (c *waitConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	if c.err != nil {
		return nil, c.err
	}
	r, err := redis.DoContext(c.Conn, ctx, cmd, args...)
	return c.after(cmd, r, err)
}

func (c *waitConn) DoWithTimeout(t time.Duration, cmd string, args ...any) (any, error) {
	if c.err != nil {
		return nil, c.err
	}
	r, err := redis.DoWithTimeout(c.Conn, t, cmd, args...)
	return c.after(cmd, r, err)
}

// Receive and its variants leave the WAIT to the next Do: a write sent with Send and read
// with Receive is waited for by the connection's next command. goresque flushes its
// pipelines with Do("").
func (c *waitConn) ReceiveContext(ctx context.Context) (any, error) {
	return redis.ReceiveContext(c.Conn, ctx)
}

func (c *waitConn) ReceiveWithTimeout(t time.Duration) (any, error) {
	return redis.ReceiveWithTimeout(c.Conn, t)
}

// writes are the commands that change data, of those goresque and its handlers send.
// Scripts count as writes: goresque's scripts all write.
var writes = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`SET SETEX PSETEX SETNX GETSET GETDEL MSET MSETNX APPEND DEL UNLINK
		EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RENAME RENAMENX COPY INCR INCRBY INCRBYFLOAT DECR DECRBY
		RPUSH LPUSH RPUSHX LPUSHX LPOP RPOP LMOVE BLMOVE RPOPLPUSH BRPOPLPUSH BLPOP BRPOP LREM LSET LTRIM LINSERT
		SADD SREM SMOVE SPOP SINTERSTORE SUNIONSTORE SDIFFSTORE
		HSET HSETNX HMSET HDEL HINCRBY HINCRBYFLOAT
		ZADD ZREM ZINCRBY ZPOPMIN ZPOPMAX BZPOPMIN BZPOPMAX ZREMRANGEBYSCORE ZREMRANGEBYRANK ZRANGESTORE
		EVAL EVALSHA FCALL EXEC FLUSHDB FLUSHALL`) {
		m[c] = true
	}
	return m
}()

func isWrite(cmd string) bool {
	if cmd == "" {
		return false
	}
	if writes[cmd] {
		return true
	}
	return writes[strings.ToUpper(cmd)]
}
