// Command bench-php measures PHP jobs run by goresque's bridge against real php-resque, in
// one run, each system a real process tree draining the same pre-filled queue of no-op PHP
// jobs (testdata/phpapp Php_Noop) from one redis-server over TCP loopback:
//
//	go build -o /tmp/goresque . && go run ./scripts/bench-php -goresque now=/tmp/goresque
//	go run ./scripts/bench-php -goresque before=/tmp/old,after=/tmp/new -rounds 3
//
// Each row is the median of -rounds rounds: jobs/s from the process start to the last job
// processed, the CPU of the whole process tree per job (its processes' own and their reaped
// children's, read from /proc at the end), Redis's CPU per job (INFO cpu), and the peak
// resident size of the tree (the sum over its processes, sampled every 20 ms). php-resque
// (../shared/thirdparty/php-resque-1, or PHP_RESQUE_DIR) runs as its users run it:
// bin/resque with COUNT=2, a child forked per job. Ratios are against that row.
//
// The last rows start each goresque with 50 slots, the bridge on and no job, and report the
// tree's resident size after start-up (the PHP pool's footprint for a worker whose jobs all
// have Go handlers).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/measure"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

func main() {
	jobs := flag.Int("jobs", 1000, "jobs per round for goresque")
	slow := flag.Int("slow-jobs", 300, "jobs per round for php-resque and per-job processes")
	rounds := flag.Int("rounds", 3, "rounds (medians are reported)")
	bins := flag.String("goresque", "", "goresque binaries to compare, name=path,... (required)")
	flag.Parse()
	if *bins == "" {
		fmt.Fprintln(os.Stderr, "bench-php: -goresque name=path is required (go build -o /tmp/goresque .)")
		os.Exit(2)
	}
	root, _ := filepath.Abs(".")
	app := filepath.Join(root, "testdata", "phpapp", "bootstrap.php")
	phpResqueDir := os.Getenv("PHP_RESQUE_DIR")
	if phpResqueDir == "" {
		phpResqueDir = filepath.Join(root, "..", "shared", "thirdparty")
	}
	srv, err := redistest.Start(redistest.Options{TCP: true})
	if err != nil {
		fail(err)
	}
	defer srv.Stop()
	b := &bench{pool: srv.Pool(), port: srv.Port, app: app}
	defer b.pool.Close()

	type system struct {
		name string
		n    int
		cmd  func(ns string) *exec.Cmd
	}
	var systems []system
	bin := filepath.Join(phpResqueDir, "php-resque-1", "bin", "resque")
	if _, err := os.Stat(bin); err == nil {
		systems = append(systems, system{"php-resque 1.x, COUNT=2 (fork per job)", *slow, func(ns string) *exec.Cmd {
			cmd := exec.Command("php", "-d", "error_reporting=22527", filepath.Join(root, "scripts", "bench-php", "resque.php"), bin)
			cmd.Env = append(os.Environ(), "QUEUE=bench", "COUNT=2", "INTERVAL=0.1", "REDIS_BACKEND=127.0.0.1:"+strconv.Itoa(b.port),
				"PREFIX="+ns, "APP_INCLUDE="+app)
			return cmd
		}})
	} else {
		fmt.Printf("(no php-resque row: %v)\n", err)
	}
	var binaries [][2]string
	for _, kv := range strings.Split(*bins, ",") {
		name, path, ok := strings.Cut(kv, "=")
		if !ok {
			fail(fmt.Errorf("-goresque %q: want name=path", kv))
		}
		binaries = append(binaries, [2]string{name, path})
	}
	for _, m := range []struct {
		name, mode, iso string
		slow            bool
	}{
		{"fork isolation", "pool", "fork", false},
		{"no isolation", "pool", "none", false},
		{"php per job", "job", "fork", true},
	} {
		for _, bp := range binaries {
			n := *jobs
			if m.slow {
				n = *slow
			}
			systems = append(systems, system{"goresque " + bp[0] + ", " + m.name + ", 2 slots", n, func(ns string) *exec.Cmd {
				cmd := exec.Command(bp[1], "work")
				cmd.Env = append(os.Environ(), "QUEUE=bench", "INTERVAL=0.1", "REDIS_BACKEND=127.0.0.1:"+strconv.Itoa(b.port),
					"PREFIX="+ns, "APP_INCLUDE="+app, "GORESQUE_CONCURRENCY=2", "GORESQUE_PHP="+m.mode, "GORESQUE_PHP_ISOLATION="+m.iso,
					"GORESQUE_DIALECT=php-resque-1")
				return cmd
			}})
		}
	}

	fmt.Printf("PHP bench: no-op PHP jobs (Php_Noop), Redis over TCP loopback, medians of %d rounds\n\n", *rounds)
	fmt.Printf("| %-52s | %8s | %8s | %12s | %12s | %7s |\n", "system", "jobs/s", "ratio", "CPU µs/job", "Redis µs/job", "RSS MB")
	fmt.Printf("|%s|---------:|---------:|-------------:|-------------:|--------:|\n", strings.Repeat("-", 54))
	var base float64
	for _, s := range systems {
		var rs []result
		for range *rounds {
			rs = append(rs, b.drain(s.n, s.cmd))
		}
		r := median(rs)
		if base == 0 {
			base = r.rate
		}
		fmt.Printf("| %-52s | %8.0f | %7.2fx | %12.0f | %12.0f | %7.1f |\n", s.name, r.rate, r.rate/base, r.cpu, r.redis, float64(r.rss)/(1<<20))
	}

	fmt.Printf("\n| %-52s | %12s | %12s |\n", "50 slots, bridge on, idle after start-up", "RSS MB", "php procs")
	fmt.Printf("|%s|-------------:|-------------:|\n", strings.Repeat("-", 54))
	for _, bp := range binaries {
		var rss []float64
		var procs int
		for range *rounds {
			r, p := b.idle(bp[1])
			rss = append(rss, r)
			procs = p
		}
		sort.Float64s(rss)
		fmt.Printf("| %-52s | %12.1f | %12d |\n", "goresque "+bp[0], rss[len(rss)/2], procs)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-php:", err)
	os.Exit(1)
}

type bench struct {
	pool  *redis.Pool
	port  int
	app   string
	round int
}

type result struct {
	rate, cpu, redis float64
	rss              int64
}

func median(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].rate < rs[j].rate })
	m := rs[len(rs)/2]
	// Each column's own median.
	col := func(f func(result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	m.cpu = col(func(r result) float64 { return r.cpu })
	m.redis = col(func(r result) float64 { return r.redis })
	m.rss = int64(col(func(r result) float64 { return float64(r.rss) }))
	return m
}

// drain fills a fresh namespace with n jobs, starts the system, and measures it until
// stat:processed reaches n.
func (b *bench) drain(n int, mk func(ns string) *exec.Cmd) result {
	b.round++
	ns := "bench-php-" + strconv.Itoa(b.round)
	c := resque.NewClient(b.pool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque1})
	for range n {
		if _, err := c.Enqueue(context.Background(), "bench", "Php_Noop", resque.PHPObject{{Key: "n", Value: 1}}, resque.EnqueueOptions{}); err != nil {
			fail(err)
		}
	}
	conn := b.pool.Get()
	defer conn.Close()
	redis0 := redisCPU(conn)
	cmd := mk(ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	pid := cmd.Process.Pid
	var peak int64
	var cpu time.Duration
	last, progress := 0, time.Now()
	for {
		done, _ := redis.Int(conn.Do("GET", ns+":stat:processed"))
		if done > last {
			last, progress = done, time.Now()
		}
		procs := measure.Tree(pid)
		treeCPU, sum := measure.Sum(procs)
		peak = max(peak, sum)
		if done >= n {
			cpu = treeCPU
			break
		}
		if time.Since(progress) > 30*time.Second {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			fail(fmt.Errorf("%s: %d of %d jobs, none for 30s:\n%s", cmd.Path, done, n, out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	redisUsed := redisCPU(conn) - redis0
	if failed, _ := redis.Int(conn.Do("GET", ns+":stat:failed")); failed > 0 {
		fail(fmt.Errorf("%s: %d jobs failed:\n%s", cmd.Path, failed, out.String()))
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = cmd.Wait()
	time.Sleep(100 * time.Millisecond) // php-resque's orphaned COUNT children
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return result{
		rate:  float64(n) / elapsed.Seconds(),
		cpu:   float64(cpu.Microseconds()) / float64(n),
		redis: float64(redisUsed.Microseconds()) / float64(n),
		rss:   peak,
	}
}

// idle starts goresque with 50 slots, the bridge on and an empty queue, and returns the
// tree's resident MB and its number of processes after start-up.
func (b *bench) idle(bin string) (float64, int) {
	b.round++
	cmd := exec.Command(bin, "work")
	cmd.Env = append(os.Environ(), "QUEUE=bench", "REDIS_BACKEND=127.0.0.1:"+strconv.Itoa(b.port),
		"PREFIX=bench-idle-"+strconv.Itoa(b.round), "APP_INCLUDE="+b.app, "GORESQUE_CONCURRENCY=50")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	conn := b.pool.Get()
	defer conn.Close()
	key := "bench-idle-" + strconv.Itoa(b.round) + ":workers"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := redis.Int(conn.Do("SCARD", key)); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("%s: no worker registered after a minute", bin))
		}
	}
	time.Sleep(time.Second)
	procs := measure.Tree(cmd.Process.Pid)
	_, sum := measure.Sum(procs)
	return float64(sum) / (1 << 20), len(procs) - 1
}

// redisCPU is Redis's CPU so far (the main thread's when reported; see measure.SampleRedis).
func redisCPU(conn redis.Conn) time.Duration {
	s, err := measure.SampleRedis(conn)
	if err != nil {
		fail(err)
	}
	return s.CPU
}
