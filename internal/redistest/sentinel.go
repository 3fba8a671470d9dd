package redistest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// HA is a replicated Redis watched by Sentinel, all on 127.0.0.1: one master, replicas
// and sentinels, each a real process started by the test (Debian's redis-server and
// redis-sentinel). Servers listen on TCP because the sentinels hand out host:port.
type HA struct {
	Name      string    // the master's name in the sentinels' configuration
	Servers   []*Server // Servers[0] starts as the master
	Sentinels []*Sentinel
	opts      HAOptions

	mu sync.Mutex
}

// HAOptions configure StartHA.
type HAOptions struct {
	Replicas  int    // default 1
	Sentinels int    // default 3 (quorum 2)
	Password  string // requirepass of the servers (the sentinels get it as auth-pass)
	// SentinelPassword is the sentinels' own requirepass (REDIS_SENTINEL_PASSWORD).
	SentinelPassword string
	// DownAfter is the sentinels' down-after-milliseconds; default 1s.
	DownAfter time.Duration
}

// Sentinel is one running redis-sentinel.
type Sentinel struct {
	Addr string // 127.0.0.1:port
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// StartHA starts the servers and the sentinels and waits until every sentinel knows the
// master, its replicas and the other sentinels, so that a failover can be authorized.
func StartHA(opts HAOptions) (*HA, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Sentinels == 0 {
		opts.Sentinels = 3
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = time.Second
	}
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		return nil, fmt.Errorf("redis-sentinel not found on PATH (install Debian's redis-sentinel package: scripts/setup.sh): %w", err)
	}
	h := &HA{Name: "goresque", opts: opts}
	master, err := Start(Options{TCP: true, Args: h.serverArgs()})
	if err != nil {
		return nil, err
	}
	h.Servers = append(h.Servers, master)
	for range opts.Replicas {
		r, err := Start(Options{TCP: true, Args: append(h.serverArgs(), "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))})
		if err != nil {
			h.Stop()
			return nil, err
		}
		h.Servers = append(h.Servers, r)
	}
	if err := h.WaitSynced(master, 10*time.Second); err != nil {
		h.Stop()
		return nil, err
	}
	for range opts.Sentinels {
		s, err := h.startSentinel(master.Port)
		if err != nil {
			h.Stop()
			return nil, err
		}
		h.Sentinels = append(h.Sentinels, s)
	}
	if err := h.waitSentinelsReady(20 * time.Second); err != nil {
		h.Stop()
		return nil, err
	}
	return h, nil
}

// StartHATB starts an HA for one test and stops it in Cleanup; a missing redis-sentinel
// skips the test, or fails it under CI=true.
func StartHATB(tb testing.TB, opts HAOptions) *HA {
	tb.Helper()
	h, err := StartHA(opts)
	if err != nil {
		Unavailable(tb, err)
	}
	tb.Cleanup(h.Stop)
	return h
}

func (h *HA) serverArgs() []string {
	// A restarted replica syncs at once: by default a diskless master waits 5 s for more
	// replicas before it starts the transfer.
	a := []string{"--repl-diskless-sync-delay", "0"}
	if h.opts.Password != "" {
		a = append(a, "--requirepass", h.opts.Password, "--masterauth", h.opts.Password)
	}
	return a
}

func (h *HA) startSentinel(masterPort int) (*Sentinel, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rs")
	if err != nil {
		return nil, err
	}
	conf := []string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"daemonize no",
		"dir " + dir,
		"logfile " + filepath.Join(dir, "sentinel.log"),
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", h.Name, masterPort),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", h.Name, h.opts.DownAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s 5000", h.Name),
		fmt.Sprintf("sentinel parallel-syncs %s 1", h.Name),
	}
	if h.opts.Password != "" {
		conf = append(conf, fmt.Sprintf("sentinel auth-pass %s %s", h.Name, h.opts.Password))
	}
	if h.opts.SentinelPassword != "" {
		// The sentinels authenticate to each other with the same password.
		conf = append(conf, "requirepass "+h.opts.SentinelPassword, "sentinel sentinel-pass "+h.opts.SentinelPassword)
	}
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Sentinel{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command("redis-sentinel", path)
	s.cmd.SysProcAttr = serverProcAttr()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-sentinel: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	return s, nil
}

// Stop kills the sentinel and removes its directory.
func (s *Sentinel) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		os.RemoveAll(s.Dir)
	})
}

// Log returns the sentinel's log.
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sentinel.log"))
	return string(b)
}

// Do runs one command on the sentinel.
func (s *Sentinel) Do(pass string, cmd string, args ...any) (any, error) {
	opts := []redis.DialOption{redis.DialConnectTimeout(time.Second), redis.DialReadTimeout(2 * time.Second)}
	if pass != "" {
		opts = append(opts, redis.DialPassword(pass))
	}
	c, err := redis.Dial("tcp", s.Addr, opts...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(cmd, args...)
}

// SentinelAddrs returns the sentinels' addresses.
func (h *HA) SentinelAddrs() []string {
	var out []string
	for _, s := range h.Sentinels {
		out = append(out, s.Addr)
	}
	return out
}

// waitSentinelsReady waits until each sentinel sees the replicas and the other sentinels.
func (h *HA) waitSentinelsReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ready := true
		for _, s := range h.Sentinels {
			m, err := redis.StringMap(s.Do(h.opts.SentinelPassword, "SENTINEL", "master", h.Name))
			if err != nil {
				ready = false
				break
			}
			ns, _ := strconv.Atoi(m["num-other-sentinels"])
			nr, _ := strconv.Atoi(m["num-slaves"])
			if ns < len(h.Sentinels)-1 || nr < h.opts.Replicas {
				ready = false
				break
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentinels not ready within %v: %s", timeout, lastLines(h.Sentinels[0].Log(), 5))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MasterAddr asks the first sentinel that answers for the master's address.
func (h *HA) MasterAddr() (string, error) {
	var last error
	for _, s := range h.Sentinels {
		v, err := redis.Strings(s.Do(h.opts.SentinelPassword, "SENTINEL", "get-master-addr-by-name", h.Name))
		if err == nil && len(v) == 2 {
			return v[0] + ":" + v[1], nil
		}
		last = err
	}
	return "", fmt.Errorf("no sentinel answered: %v", last)
}

// Master returns the server the sentinels name as master.
func (h *HA) Master() (*Server, error) {
	addr, err := h.MasterAddr()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.Servers {
		if fmt.Sprintf("127.0.0.1:%d", s.Port) == addr {
			return s, nil
		}
	}
	return nil, fmt.Errorf("master %s is none of the test's servers", addr)
}

// Conn dials s with the HA's password.
func (h *HA) Conn(s *Server) (redis.Conn, error) {
	var opts []redis.DialOption
	if h.opts.Password != "" {
		opts = append(opts, redis.DialPassword(h.opts.Password))
	}
	return redis.Dial("unix", s.Socket, opts...)
}

// Kill SIGKILLs server s (a master failing hard: no goodbye to replicas or clients).
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Failover SIGKILLs the current master and waits until the sentinels name another one that
// answers ROLE as master. It returns the old and the new master.
func (h *HA) Failover(timeout time.Duration) (old, promoted *Server, err error) {
	old, err = h.Master()
	if err != nil {
		return nil, nil, err
	}
	old.Kill()
	deadline := time.Now().Add(timeout)
	for {
		if m, err := h.Master(); err == nil && m != old {
			if role, err := h.role(m); err == nil && role == "master" {
				return old, m, nil
			}
		}
		if time.Now().After(deadline) {
			return old, nil, fmt.Errorf("no failover within %v: %s", timeout, lastLines(h.Sentinels[0].Log(), 8))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *HA) role(s *Server) (string, error) {
	c, err := h.Conn(s)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := redis.Values(c.Do("ROLE"))
	if err != nil || len(v) == 0 {
		return "", errors.Join(err, errors.New("empty ROLE"))
	}
	return redis.String(v[0], nil)
}

// Restart starts a killed server again, empty, on its old port, as a replica of master
// (with no persistence it must never come back as a master: its empty data set would
// replace the promoted replica's), and waits until it has synced.
func (h *HA) Restart(s *Server, master *Server) error {
	args := append(h.serverArgs(), "--replicaof", "127.0.0.1", strconv.Itoa(master.Port), "--port", strconv.Itoa(s.Port))
	n, err := Start(Options{Args: args})
	if err != nil {
		return err
	}
	n.Port = s.Port
	h.mu.Lock()
	for i, x := range h.Servers {
		if x == s {
			h.Servers[i] = n
		}
	}
	h.mu.Unlock()
	s.Stop() // its directory
	return h.WaitSynced(master, 20*time.Second)
}

// WaitSynced waits until every replica connected to master is online and has reached the
// master's replication offset as it was when they all were online (under traffic the
// offsets are rarely equal at any one instant).
func (h *HA) WaitSynced(master *Server, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	want := len(h.Servers) - 1
	target := int64(-1)
	for {
		// On a loaded machine the sentinels may fail over again meanwhile (a master that
		// stalls past down-after-milliseconds): wait on whichever server they name now.
		if m, err := h.Master(); err == nil && m != master {
			master, target = m, -1
		}
		c, err := h.Conn(master)
		if err == nil {
			info, err2 := redis.String(c.Do("INFO", "replication"))
			c.Close()
			if err2 == nil {
				offset, replicas := replication(info)
				if len(replicas) >= want {
					if target < 0 {
						target = offset
					}
					done := true
					for _, o := range replicas {
						done = done && o >= target
					}
					if done {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replicas not in sync with the master within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replication reads INFO replication: the master's offset and those of its online replicas.
func replication(info string) (offset int64, replicas []int64) {
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			offset, _ = strconv.ParseInt(v, 10, 64)
		}
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			for _, f := range strings.Split(line, ",") {
				if v, ok := strings.CutPrefix(f, "offset="); ok {
					o, _ := strconv.ParseInt(v, 10, 64)
					replicas = append(replicas, o)
				}
			}
		}
	}
	return offset, replicas
}

// Stop stops every process of the HA.
func (h *HA) Stop() {
	for _, s := range h.Sentinels {
		s.Stop()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.Servers {
		s.Stop()
	}
}

// Signal sends sig to the server process (SIGSTOP/SIGCONT: a replica that lags).
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }
