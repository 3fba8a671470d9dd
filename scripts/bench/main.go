// Command bench measures goresque against real php-resque, from the outside, in one run on
// one private redis-server, and prints markdown tables ready for the README:
//
//	go run ./scripts/bench                                  # everything, ~10 min
//	go run ./scripts/bench -cases go -transport unix -rounds 1   # one case, quickly
//	go run ./scripts/bench -cases wildcard,blocking -goresque /tmp/goresque -noop /tmp/noop
//	go run ./scripts/bench -cases go,blocking -noop before=/tmp/old-noop,after=/tmp/new-noop
//
// Every system is a real process tree started from a built binary (goresque itself for PHP
// classes, scripts/bench/noopworker for Go handlers: the command package with a Mux of
// no-op handlers, as a user's own main), draining the same pre-filled queue of jobs pushed
// with Resque::enqueue's bytes (an id; untracked unless the row says tracked). Each case
// runs over TCP loopback and over the unix socket (-transport).
//
// Columns, each the median of -rounds rounds: jobs/s from the process start to the last job
// processed (stat:processed polled every 2 ms); the CPU of the whole process tree per job
// (its processes' own time and their reaped children's, from /proc); Redis's CPU per job
// (INFO cpu, the main thread's when reported); Redis commands per job (INFO commandstats,
// less the benchmark's own polling; a script's inner commands count besides the script
// call); the tree's peak resident size (sampled every 20 ms). Ratios are computed in the
// same run: against php-resque 1.x COUNT=2 and against the (first binary's) 1-slot Go row
// of the same transport. -goresque and -noop take name=path lists to put builds side by
// side in one run (before/after a change): each row then runs once per binary.
//
// Cases (-cases):
//
//	go        Go handler, 1 / 8 / 50 slots with GORESQUE_PHP=off, 50 slots with default
//	          settings (the PHP bridge on), and tracked variants.
//	php       php-resque 1.x COUNT=2 (../shared/thirdparty) against goresque's bridge
//	          running the same PHP class, 2 slots, with and without fork isolation.
//	floor     the same per-job Redis commands sent by plain connections, one pipeline per
//	          job: what Redis itself can do with the fewest round trips.
//	wildcard  QUEUE=* with -wildcard-queues queue names, the jobs in the last 4 in sort
//	          order, the rest empty; then the idle cost with every queue empty.
//	blocking  BLOCKING=1 with 1 and 50 slots at light load (one job every -blocking-every):
//	          Redis commands per job and the pickup latency, from just before the enqueue to
//	          the handler's start (the handler writes its start time to a file); one more
//	          round counts the worker's round trips with MONITOR (which shows a script's
//	          inner commands apart, and costs Redis CPU, so that round gives nothing else).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/measure"
	"github.com/goresque/goresque/internal/redistest"
)

type bench struct {
	srv      *redistest.Server
	pool     *redis.Pool // unix socket; its commands are counted
	counter  *measure.Counter
	goresque []binary // for PHP classes
	noop     []binary // for Go handlers (scripts/bench/noopworker)
	root     string
	app      string // testdata/phpapp/bootstrap.php
	phpBin   string // php-resque 1.x bin/resque, "" when absent
	maxRound time.Duration
	seq      int
}

func main() {
	cases := flag.String("cases", "go,php,floor,wildcard,blocking", "cases to run: go, php, floor, wildcard, blocking")
	transports := flag.String("transport", "tcp,unix", "how the workers reach Redis: tcp (loopback), unix (socket)")
	rounds := flag.Int("rounds", 3, "rounds per row (medians are reported)")
	jobs := flag.Int("jobs", 20000, "jobs per round for Go handlers")
	phpJobs := flag.Int("php-jobs", 1000, "jobs per round for goresque running PHP classes")
	slowJobs := flag.Int("slow-jobs", 300, "jobs per round for php-resque (a fork per job)")
	tracked := flag.Bool("tracked", true, "go case: also rows with tracked jobs (status key)")
	wcQueues := flag.Int("wildcard-queues", 5000, "wildcard case: queue names in the queues set")
	wcJobs := flag.Int("wildcard-jobs", 5000, "wildcard case: jobs per round")
	wcSlots := flag.String("wildcard-slots", "1,8", "wildcard case: slots per row")
	idle := flag.Duration("idle", 5*time.Second, "wildcard case: how long to measure the idle worker")
	blJobs := flag.Int("blocking-jobs", 500, "blocking case: jobs per round")
	blEvery := flag.Duration("blocking-every", 5*time.Millisecond, "blocking case: one job every")
	blSlots := flag.String("blocking-slots", "1,50", "blocking case: slots per row")
	maxRound := flag.Duration("max-round", 20*time.Second, "end a round after this long (the row says so)")
	goresque := flag.String("goresque", "", "goresque binary, or name=path,... to compare builds (default: go build . into a temporary directory)")
	noop := flag.String("noop", "", "noopworker binary, or name=path,... to compare builds (default: go build ./scripts/bench/noopworker)")
	flag.Parse()

	want := set(*cases)
	for c := range want {
		if !strings.Contains(",go,php,floor,wildcard,blocking,", ","+c+",") {
			fail(fmt.Errorf("-cases: unknown case %q", c))
		}
	}
	var tps []string
	for _, t := range strings.Split(*transports, ",") {
		if t = strings.TrimSpace(t); t != "tcp" && t != "unix" {
			fail(fmt.Errorf("-transport: want tcp and/or unix, not %q", t))
		}
		tps = append(tps, strings.TrimSpace(t))
	}

	root, _ := filepath.Abs(".")
	b := &bench{root: root, app: filepath.Join(root, "testdata", "phpapp", "bootstrap.php"), maxRound: *maxRound, counter: &measure.Counter{}}
	tmp, err := os.MkdirTemp("", "bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	b.goresque, b.noop = binaries(*goresque), binaries(*noop)
	if b.goresque == nil && want["php"] {
		b.goresque = []binary{{path: build(tmp, "goresque", ".")}}
	}
	if b.noop == nil && (want["go"] || want["wildcard"] || want["blocking"]) {
		b.noop = []binary{{path: build(tmp, "goresque-noop", "./scripts/bench/noopworker")}}
	}
	third := os.Getenv("PHP_RESQUE_DIR")
	if third == "" {
		third = filepath.Join(root, "..", "shared", "thirdparty")
	}
	if bin := filepath.Join(third, "php-resque-1", "bin", "resque"); fileExists(bin) {
		b.phpBin = bin
	} else if want["php"] {
		fmt.Printf("(no php-resque row: %s is missing)\n", bin)
	}

	b.srv, err = redistest.Start(redistest.Options{TCP: true})
	if err != nil {
		fail(err)
	}
	defer b.srv.Stop()
	b.pool = &redis.Pool{MaxIdle: 16, Dial: func() (redis.Conn, error) {
		c, err := b.srv.Dial()
		if err != nil {
			return nil, err
		}
		return b.counter.Wrap(c), nil
	}}
	defer b.pool.Close()

	fmt.Printf("`go run ./scripts/bench %s`: %s, %d cores, load average %s (1/5/15 min), %s, medians of %d rounds\n",
		strings.Join(os.Args[1:], " "), time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), measure.LoadAvg(),
		redisVersion(b.pool), *rounds)

	if want["go"] || want["php"] || want["floor"] {
		var rows []row
		if want["go"] {
			rows = append(rows, b.goRows(*jobs, *tracked)...)
		}
		if want["php"] {
			rows = append(rows, b.phpRows(*phpJobs, *slowJobs)...)
		}
		b.runTable(rows, tps, *rounds)
	}
	if want["floor"] {
		b.floorTable(tps, *rounds, *jobs)
	}
	if want["wildcard"] {
		b.wildcardTable(tps, *rounds, *wcJobs, *wcQueues, ints(*wcSlots), *idle)
	}
	if want["blocking"] {
		b.blockingTable(tps, *rounds, *blJobs, *blEvery, ints(*blSlots))
	}
	fmt.Printf("\nload average at the end: %s\n", measure.LoadAvg())
}

// backend is REDIS_BACKEND for a worker over transport, in a form both goresque and
// php-resque (Resque_Redis::parseDsn) read.
func (b *bench) backend(transport string) string {
	if transport == "unix" {
		return "unix://" + b.srv.Socket
	}
	return fmt.Sprintf("127.0.0.1:%d", b.srv.Port)
}

// flush empties the private server between rounds.
func (b *bench) flush() {
	conn := b.pool.Get()
	defer conn.Close()
	if _, err := conn.Do("FLUSHALL"); err != nil {
		fail(err)
	}
}

func build(dir, name, pkg string) string {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("go build %s: %w", pkg, err))
	}
	return out
}

func redisVersion(pool *redis.Pool) string {
	conn := pool.Get()
	defer conn.Close()
	info, _ := redis.String(conn.Do("INFO", "server"))
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			return "redis " + v
		}
	}
	return "redis ?"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func set(csv string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(csv, ",") {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

func ints(csv string) []int {
	var out []int
	for _, s := range strings.Split(csv, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || n < 1 {
			fail(fmt.Errorf("bad list of numbers %q", csv))
		}
		out = append(out, n)
	}
	return out
}

// binary is a build to measure; name tells builds apart in the rows ("" when only one).
type binary struct{ name, path string }

// label is how rows name the build: "goresque" or "goresque <name>".
func (b binary) label() string {
	if b.name == "" {
		return "goresque"
	}
	return "goresque " + b.name
}

// binaries parses -goresque/-noop: "" (build one), a path, or name=path,...
func binaries(flagValue string) []binary {
	if flagValue == "" {
		return nil
	}
	if !strings.Contains(flagValue, "=") {
		return []binary{{path: flagValue}}
	}
	var out []binary
	for _, kv := range strings.Split(flagValue, ",") {
		name, path, ok := strings.Cut(kv, "=")
		if !ok || name == "" || path == "" {
			fail(fmt.Errorf("%q: want a path or name=path,name=path", flagValue))
		}
		out = append(out, binary{name, path})
	}
	return out
}

// syncBuffer is a bytes.Buffer a process writes while the benchmark may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil // enough to explain a failure
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
