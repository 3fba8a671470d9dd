// Package sentinel dials the master of a Redis replica set through Redis Sentinel and
// follows its failovers, for goresque's redigo pools: the worker, the client and the
// CLI need no change to run against a replicated Redis.
//
// A Dialer asks the sentinels for the master's address (SENTINEL get-master-addr-by-name,
// as php-resque's Credis_Sentinel and Ruby's redis client do), checks that the server
// really is the master (ROLE: a sentinel that has not yet seen a failover may name a
// demoted server) and hands out connections that turn themselves broken when the master
// moves: on a READONLY reply (the server was demoted under them), on connection loss
// (redigo's own), or when a sentinel announces +switch-master. A redis.Pool discards a
// broken connection when it is returned and dials again, through the sentinels, so the
// next command goes to the new master. Each failover is logged once.
//
// Redis replicates asynchronously: a write the old master acknowledged may be missing on
// the promoted replica. WaitReplicas wraps a connection so that a write is acknowledged
// only once N replicas have it (WAIT), which closes that gap at a measured cost; see the
// README's "High availability" section for what each setting guarantees.
package sentinel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

// Config says which master to follow and how to reach it.
type Config struct {
	// Sentinels are the sentinels' host:port addresses; they are asked in order, starting
	// with the one that answered last.
	Sentinels []string
	// Master is the master's name in the sentinels' configuration (sentinel monitor <name>).
	Master string
	// SentinelOptions are used to dial the sentinels: their own password
	// (redis.DialPassword, REDIS_SENTINEL_PASSWORD) and timeouts. Timeouts default to
	// those of Dial below when not given.
	SentinelOptions []redis.DialOption
	// MasterOptions are used to dial the master: database, credentials, TLS, timeouts.
	MasterOptions []redis.DialOption
	// ResolveTimeout bounds one DialContext: how long it keeps asking the sentinels for a
	// master that answers ROLE as a master (a failover in progress). Default 3s; callers
	// that must survive a whole failover (the worker) retry dialing themselves.
	ResolveTimeout time.Duration
	// Logger receives one line per failover; the zero Logger discards it.
	Logger zerolog.Logger
}

// Dialer resolves the master and dials it. It is safe for concurrent use. While any
// connection it dialed is open, a goroutine follows the sentinels' +switch-master
// announcements; it stops when the last one is closed (a closed pool leaves nothing
// running) or at Close.
type Dialer struct {
	cfg Config

	mu        sync.Mutex
	master    string // last verified master address, "" before the first dial
	next      int    // index of the sentinel to ask first
	live      int    // connections open
	stopWatch context.CancelFunc
	closed    bool

	gen      atomic.Uint64 // bumped whenever the master is known to have moved
	watchers sync.WaitGroup
}

// New checks cfg and returns a Dialer. It dials nothing yet.
func New(cfg Config) (*Dialer, error) {
	if len(cfg.Sentinels) == 0 {
		return nil, errors.New("sentinel: no sentinel addresses")
	}
	if cfg.Master == "" {
		return nil, errors.New("sentinel: no master name")
	}
	for _, a := range cfg.Sentinels {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("sentinel: address %q: want host:port", a)
		}
	}
	if cfg.ResolveTimeout <= 0 {
		cfg.ResolveTimeout = 3 * time.Second
	}
	return &Dialer{cfg: cfg}, nil
}

// Master returns the last verified master address ("" before the first successful dial).
func (d *Dialer) Master() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.master
}

// Close stops the watcher. Connections already handed out stay usable.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	if d.stopWatch != nil {
		d.stopWatch()
		d.stopWatch = nil
	}
	d.mu.Unlock()
	d.watchers.Wait()
	return nil
}

// acquire counts a new connection and starts the watcher if none runs.
func (d *Dialer) acquire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live++
	if d.stopWatch == nil && !d.closed {
		ctx, cancel := context.WithCancel(context.Background())
		d.stopWatch = cancel
		d.watchers.Add(1)
		go d.watch(ctx)
	}
}

// release counts a closed connection and stops the watcher with the last one.
func (d *Dialer) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live--
	if d.live == 0 && d.stopWatch != nil {
		d.stopWatch()
		d.stopWatch = nil
	}
}

// DialContext returns a connection to the current master, for redis.Pool.DialContext.
// It asks the sentinels, dials the address they give and checks ROLE; while the answer is
// not a reachable master (a failover in progress) it retries with a backoff for up to
// Config.ResolveTimeout.
func (d *Dialer) DialContext(ctx context.Context) (redis.Conn, error) {
	deadline := time.Now().Add(d.cfg.ResolveTimeout)
	delay := 50 * time.Millisecond
	for {
		c, err := d.dialOnce(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func (d *Dialer) dialOnce(ctx context.Context) (redis.Conn, error) {
	gen := d.gen.Load()
	addr, err := d.resolve(ctx)
	if err != nil {
		return nil, err
	}
	c, err := redis.DialContext(ctx, "tcp", addr, d.cfg.MasterOptions...)
	if err != nil {
		return nil, fmt.Errorf("sentinel: master %q at %s: %w", d.cfg.Master, addr, err)
	}
	role, err := roleOf(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sentinel: master %q at %s: ROLE: %w", d.cfg.Master, addr, err)
	}
	if role != "master" {
		c.Close()
		return nil, fmt.Errorf("sentinel: %s, named master %q by the sentinels, is a %s (failover in progress?)", addr, d.cfg.Master, role)
	}
	if d.setMaster(addr, "") {
		gen = d.gen.Load()
	}
	d.acquire()
	return &conn{Conn: c, d: d, gen: gen}, nil
}

// roleOf returns the first element of ROLE's reply: master, slave or sentinel.
func roleOf(c redis.Conn) (string, error) {
	v, err := redis.Values(c.Do("ROLE"))
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", errors.New("empty reply")
	}
	return redis.String(v[0], nil)
}

// resolve asks the sentinels, in order from the last that answered, for the master's
// address. A sentinel that cannot be reached, refuses us or does not know the master is
// skipped; the error names the last reason.
func (d *Dialer) resolve(ctx context.Context) (string, error) {
	d.mu.Lock()
	start := d.next
	d.mu.Unlock()
	var last error
	n := len(d.cfg.Sentinels)
	for i := range n {
		idx := (start + i) % n
		addr, err := d.askSentinel(ctx, d.cfg.Sentinels[idx])
		if err == nil {
			d.mu.Lock()
			d.next = idx
			d.mu.Unlock()
			return addr, nil
		}
		last = err
	}
	return "", fmt.Errorf("sentinel: no sentinel named master %q: %w", d.cfg.Master, last)
}

func (d *Dialer) askSentinel(ctx context.Context, sentinel string) (string, error) {
	c, err := d.dialSentinel(ctx, sentinel, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := redis.Strings(c.Do("SENTINEL", "get-master-addr-by-name", d.cfg.Master))
	if errors.Is(err, redis.ErrNil) {
		return "", fmt.Errorf("sentinel %s does not monitor a master named %q", sentinel, d.cfg.Master)
	}
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", sentinel, err)
	}
	if len(v) != 2 {
		return "", fmt.Errorf("sentinel %s: unexpected reply %q", sentinel, v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

func (d *Dialer) dialSentinel(ctx context.Context, addr string, readTimeout time.Duration) (redis.Conn, error) {
	opts := append([]redis.DialOption{
		redis.DialConnectTimeout(2 * time.Second),
		redis.DialReadTimeout(readTimeout),
		redis.DialWriteTimeout(2 * time.Second),
	}, d.cfg.SentinelOptions...)
	c, err := redis.DialContext(ctx, "tcp", addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %w", addr, err)
	}
	return c, nil
}

// setMaster records addr as the master. When it differs from the one known, every
// connection handed out so far turns broken and the change is logged: once per failover,
// whether a +switch-master notice or a redial saw it first. It reports whether it changed.
func (d *Dialer) setMaster(addr, how string) bool {
	d.mu.Lock()
	old := d.master
	d.master = addr
	d.mu.Unlock()
	if old == addr {
		return false
	}
	d.gen.Add(1)
	if old != "" {
		ev := d.cfg.Logger.Warn().Str("master", d.cfg.Master).Str("from", old).Str("to", addr)
		if how != "" {
			ev = ev.Str("seen", how)
		}
		ev.Msg("redis failover: following the new master")
	}
	return true
}

// invalidate makes every connection handed out so far broken, so that the pool redials
// through the sentinels: a READONLY reply says the master we knew was demoted.
func (d *Dialer) invalidate() { d.gen.Add(1) }

// watch follows the sentinels' +switch-master announcements (one sentinel at a time,
// moving to the next when it goes away) until ctx ends.
func (d *Dialer) watch(ctx context.Context) {
	defer d.watchers.Done()
	delay := 100 * time.Millisecond
	for i := 0; ctx.Err() == nil; i++ {
		addr := d.cfg.Sentinels[i%len(d.cfg.Sentinels)]
		if d.subscribe(ctx, addr) {
			delay = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// subscribe listens to one sentinel until it goes away or ctx ends. It reports whether the
// subscription was established.
func (d *Dialer) subscribe(ctx context.Context, addr string) bool {
	c, err := d.dialSentinel(ctx, addr, 0)
	if err != nil {
		return false
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	psc := redis.PubSubConn{Conn: c}
	if err := psc.Subscribe("+switch-master"); err != nil {
		return false
	}
	for {
		switch m := psc.Receive().(type) {
		case error:
			return true
		case redis.Message:
			// <master name> <old ip> <old port> <new ip> <new port>
			f := strings.Fields(string(m.Data))
			if len(f) == 5 && f[0] == d.cfg.Master {
				d.setMaster(net.JoinHostPort(f[3], f[4]), "+switch-master from "+addr)
			}
		}
	}
}

// errReadOnly and errMoved make a connection broken (its Err), so that a redis.Pool drops
// it instead of keeping it idle.
var (
	errReadOnly = errors.New("sentinel: the server answered READONLY: it is a replica now; redial through the sentinels")
	errMoved    = errors.New("sentinel: the master moved; redial through the sentinels")
)

// conn is a connection to the master as it was when dialed.
type conn struct {
	redis.Conn
	d        *Dialer
	gen      uint64
	readonly atomic.Bool
	closed   atomic.Bool
}

func (c *conn) Close() error {
	if !c.closed.Swap(true) {
		c.d.release()
	}
	return c.Conn.Close()
}

// Err is the connection's own error, else errReadOnly after a READONLY reply, else
// errMoved once the master has moved: the pool then closes the connection on return.
func (c *conn) Err() error {
	if err := c.Conn.Err(); err != nil {
		return err
	}
	if c.readonly.Load() {
		return errReadOnly
	}
	if c.d.gen.Load() != c.gen {
		return errMoved
	}
	return nil
}

// check looks for READONLY in a reply: the error itself, or an element of a pipeline's
// or a transaction's reply, where redigo puts each command's error.
func (c *conn) check(reply any, err error) {
	ro := isReadOnly(err)
	if !ro {
		if vs, ok := reply.([]any); ok {
			for _, v := range vs {
				if e, ok := v.(redis.Error); ok && isReadOnly(e) {
					ro = true
					break
				}
			}
		}
	}
	if ro && !c.readonly.Swap(true) {
		c.d.invalidate()
	}
}

// isReadOnly reports a write refused by a replica; from a script, Redis wraps the same
// message ("READONLY You can't write against a read only replica. script: ...").
func isReadOnly(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := string(re)
	return strings.HasPrefix(msg, "READONLY") || strings.Contains(msg, "READONLY You can't write")
}

func (c *conn) Do(cmd string, args ...any) (any, error) {
	r, err := c.Conn.Do(cmd, args...)
	c.check(r, err)
	return r, err
}

func (c *conn) Receive() (any, error) {
	r, err := c.Conn.Receive()
	c.check(r, err)
	return r, err
}

// DoContext and the other methods below keep redigo's optional interfaces
// (ConnWithContext, ConnWithTimeout) available through the wrapper.
func (c *conn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	r, err := redis.DoContext(c.Conn, ctx, cmd, args...)
	c.check(r, err)
	return r, err
}

func (c *conn) ReceiveContext(ctx context.Context) (any, error) {
	r, err := redis.ReceiveContext(c.Conn, ctx)
	c.check(r, err)
	return r, err
}

func (c *conn) DoWithTimeout(t time.Duration, cmd string, args ...any) (any, error) {
	r, err := redis.DoWithTimeout(c.Conn, t, cmd, args...)
	c.check(r, err)
	return r, err
}

func (c *conn) ReceiveWithTimeout(t time.Duration) (any, error) {
	r, err := redis.ReceiveWithTimeout(c.Conn, t)
	c.check(r, err)
	return r, err
}
