// Package redistest starts a private redis-server for tests.
//
// It follows redigo's own test setup (a real server as a subprocess, persistence off) and
// makes it reusable: one server per test package, a unix socket in a short temporary
// directory (no port races, never the developer's 6379), and a fresh namespace per test so
// tests run in parallel without FLUSHALL or KEYS.
//
// When redis-server is missing the test is skipped with the reason, except under CI=true,
// where it fails: a CI run without Redis must not pass having tested nothing.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Server is a running redis-server owned by a test binary.
type Server struct {
	Dir    string // temporary directory holding the socket and the log
	Socket string // unix socket path
	Addr   string // "unix:" + Socket, for logs
	Port   int    // loopback TCP port when Options.TCP is set
	cmd    *exec.Cmd
	done   chan struct{}
	once   sync.Once
}

var nsCounter atomic.Int64

// Options are extra redis-server arguments, e.g. {"--requirepass", "x"}.
type Options struct {
	Args []string
	// TCP also listens on a random loopback port (Server.Port) besides the socket.
	TCP bool
}

// Start starts a redis-server with persistence off on a unix socket and waits until it
// answers PING. It returns an error when redis-server cannot be found or does not start.
func Start(opts Options) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (install Debian's redis-server package: scripts/setup.sh): %w", err)
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Socket: filepath.Join(dir, "r.sock"), done: make(chan struct{})}
	s.Addr = "unix:" + s.Socket
	port := "0"
	if opts.TCP {
		p, err := FreePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.Port = p
		port = strconv.Itoa(p)
	}
	args := []string{
		"--port", port,
		"--bind", "127.0.0.1",
		"--unixsocket", s.Socket,
		"--unixsocketperm", "700",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
	}
	args = append(args, opts.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = serverProcAttr()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redis.Dial("unix", s.Socket)
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil || strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "AUTH") {
				return s, nil
			}
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server exited at start: %s", lastLines(string(log), 5))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server did not answer PING within 10s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StartTB starts a server for one test and stops it in Cleanup; see Start.
func StartTB(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		Unavailable(tb, err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Unavailable skips tb because of err, or fails it when CI=true.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("redis unavailable under CI=true: %v", err)
	}
	tb.Skipf("redis unavailable: %v", err)
}

// Stop kills the server and removes its directory. It is safe to call twice.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		os.RemoveAll(s.Dir)
	})
}

// Pool returns a pool of connections to the server. Closing is left to the caller.
func (s *Server) Pool() *redis.Pool {
	return &redis.Pool{
		MaxIdle:     64,
		IdleTimeout: time.Minute,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "unix", s.Socket)
		},
	}
}

// Dial opens one connection to the server.
func (s *Server) Dial() (redis.Conn, error) { return redis.Dial("unix", s.Socket) }

// Namespace returns a namespace ("t<N>-<TestName>:") unique within the test binary, so
// tests sharing one server never touch each other's keys.
func Namespace(tb testing.TB) string {
	n := nsCounter.Add(1)
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(tb.Name(), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d-%s:", n, name)
}

// Keys returns every key of the namespace, using SCAN (never KEYS), sorted by Redis' order.
func Keys(tb testing.TB, c redis.Conn, ns string) []string {
	tb.Helper()
	var out []string
	cursor := 0
	for {
		vals, err := redis.Values(c.Do("SCAN", cursor, "MATCH", escapeGlob(ns)+"*", "COUNT", 1000))
		if err != nil {
			tb.Fatalf("scan: %v", err)
		}
		cursor, _ = redis.Int(vals[0], nil)
		keys, _ := redis.Strings(vals[1], nil)
		out = append(out, keys...)
		if cursor == 0 {
			return out
		}
	}
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

// Monitor streams the commands the server runs to fn until the returned stop function is
// called. Each line is Redis' MONITOR output with the timestamp and client part removed.
func (s *Server) Monitor(tb testing.TB) (lines func() []string, stop func()) {
	tb.Helper()
	c, err := redis.Dial("unix", s.Socket)
	if err != nil {
		tb.Fatalf("monitor dial: %v", err)
	}
	if _, err := c.Do("MONITOR"); err != nil {
		tb.Fatalf("monitor: %v", err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			v, err := redis.String(c.Receive())
			if err != nil {
				return
			}
			// 1700000000.123456 [0 unix:/tmp/x/r.sock] "SET" "k" "v"
			if i := strings.Index(v, "] "); i >= 0 {
				v = v[i+2:]
			}
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		}
	}()
	lines = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	stop = func() {
		c.Close()
		<-done
	}
	return lines, stop
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
