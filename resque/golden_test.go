package resque

// The golden tests replay the scenarios recorded from real php-resque
// (testdata/golden/<dialect>/, copied from ../shared/golden) with goresque doing the PHP
// side's work, on a private redis-server under MONITOR, and compare:
//
//   - the keyspace at every labelled snapshot and at the end, byte for byte after the
//     golden README's normalisation;
//   - the enqueue phases command for command (Resque::enqueue's exact sequence);
//   - the worker phases as the multiset of writes plus the order in which jobs were taken.
//     goresque performs a job's writes inside atomic scripts (the claim, the outcome), so
//     their order differs from php-resque's separate commands; what is written is the same.
//
// Deliberate differences are applied to the expectation in code, each with its reason:
// goresque-only keys (workers:heartbeat, goresque:inflight, goresque:pidns, the per-class
// statistics goresque:classes and goresque:class:<class>, goresque:handlers), the pid in job:<id>:pid (the
// worker's own: no fork), backtraces (Go frames, not PHP's), raw payload bytes kept where
// PHP re-encodes them (scenario 34), and the dead worker's job recorded as failed instead of
// dropped (scenario 06).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/goldentest"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/rs/zerolog"
)

const goldenHost = goldentest.Host

type goldenRun struct {
	t       *testing.T
	dialect Dialect
	dir     string
	name    string
	srv     *redistest.Server
	pool    *redis.Pool
	conn    redis.Conn
	ns      string
	client  *Client

	lines  func() []string
	stopMo func()

	snapshots []snapshot
	worker    *Worker
	done      chan error

	gate     chan struct{} // closed to let blocked harness jobs finish
	started  chan string   // class of each harness job that started
	gateOnce sync.Once
}

type snapshot struct {
	Label string
	Keys  map[string]goldentest.KeyDump
}

func dialectDir(d Dialect) string { return d.String() }

func newGolden(t *testing.T, d Dialect, name string) *goldenRun {
	t.Helper()
	srv := redistest.StartTB(t, redistest.Options{})
	g := &goldenRun{
		t: t, dialect: d, dir: dialectDir(d), name: name, srv: srv, pool: srv.Pool(), ns: "resque:",
		gate: make(chan struct{}), started: make(chan string, 16),
	}
	t.Cleanup(func() { g.pool.Close() })
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	g.conn = c
	t.Cleanup(func() { c.Close() })
	g.client = NewClient(g.pool, ClientConfig{Namespace: g.ns, Dialect: d})
	g.lines, g.stopMo = srv.Monitor(t)
	t.Cleanup(g.stopMo)
	return g
}

func (g *goldenRun) setNamespace(ns string) {
	g.ns = NewKeys(ns).Namespace()
	g.client = NewClient(g.pool, ClientConfig{Namespace: ns, Dialect: g.dialect})
}

func (g *goldenRun) do(cmd string, args ...any) any {
	g.t.Helper()
	v, err := g.conn.Do(cmd, args...)
	if err != nil {
		g.t.Fatalf("%s: %v", cmd, err)
	}
	return v
}

func (g *goldenRun) phase(name string) { g.do("ECHO", "# phase: "+name) }

func (g *goldenRun) enqueue(queue, class string, args any, track bool) string {
	g.t.Helper()
	id, err := g.client.Enqueue(context.Background(), queue, class, args, EnqueueOptions{Track: track})
	if err != nil {
		g.t.Fatal(err)
	}
	return id
}

// harnessMux handles the golden harness's job classes the way its PHP versions behave.
func (g *goldenRun) harnessMux() *Mux {
	mux := NewMux()
	block := func(ctx context.Context, j *Job) {
		g.started <- j.Class
		select {
		case <-g.gate:
		case <-ctx.Done():
		}
	}
	mux.HandleFunc("Harness_Succeed", func(ctx context.Context, j *Job) error {
		if _, ok := j.Value("sleep"); ok {
			block(ctx, j)
		}
		j.SetResult("ok")
		return nil
	})
	mux.HandleFunc("Harness_Sleep", func(ctx context.Context, j *Job) error {
		block(ctx, j)
		j.SetResult("slept")
		return nil
	})
	mux.HandleFunc("Harness_Throw", func(ctx context.Context, j *Job) error {
		msg := j.String("message")
		if msg == "" {
			msg = "harness: boom"
		}
		return &JobError{Exception: "Exception", Message: msg, Backtrace: []string{"#0 {main}"}}
	})
	mux.HandleFunc("Harness_DontPerform", func(ctx context.Context, j *Job) error { return ErrDontPerform })
	return mux
}

func (g *goldenRun) startWorker(blocking bool, queues ...string) {
	g.t.Helper()
	cfg := Config{
		Namespace: g.ns,
		Queues:    queues,
		Interval:  100 * time.Millisecond,
		Blocking:  blocking,
		Dialect:   g.dialect,
		Handler:   g.harnessMux(),
		Logger:    zerolog.New(zerolog.NewTestWriter(g.t)).Level(zerolog.InfoLevel),
		Hostname:  goldenHost,
		Location:  time.UTC,
	}
	w, err := NewWorker(g.pool, cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	g.worker = w
	g.done = make(chan error, 1)
	go func() { g.done <- w.Run(context.Background()) }()
	g.t.Cleanup(func() { g.release(); w.ShutdownNow(nil); <-g.done })
	g.waitFor("worker registered", func() bool {
		n, _ := redis.Int(g.conn.Do("EXISTS", g.ns+"worker:"+w.IDs()[0]+":started"))
		return n == 1
	})
}

func (g *goldenRun) release() { g.gateOnce.Do(func() { close(g.gate) }) }

func (g *goldenRun) waitStarted() {
	g.t.Helper()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		g.t.Fatal("harness job did not start")
	}
	// Deliberate difference (README, compatibility table): goresque writes a job's start
	// (status running, v1.3.6's pid key, one atomic script) up to startDelay after its
	// handler began, where php-resque writes it just before perform. A snapshot "during the
	// job" is taken once it is written; every scenario using this waits on a tracked job.
	g.waitFor("the job's start written", func() bool {
		keys, _ := redis.Strings(g.conn.Do("KEYS", g.ns+"job:*:status"))
		for _, k := range keys {
			if v, _ := redis.String(g.conn.Do("GET", k)); strings.HasPrefix(v, `{"status":2,`) {
				return true
			}
		}
		return false
	})
}

func (g *goldenRun) waitFor(what string, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (g *goldenRun) waitProcessed(n int) {
	g.t.Helper()
	g.waitFor(fmt.Sprintf("stat:processed >= %d", n), func() bool {
		v, _ := redis.Int(g.conn.Do("GET", g.ns+"stat:processed"))
		return v >= n
	})
	g.waitFor("worker idle", func() bool {
		v, _ := redis.Int(g.conn.Do("EXISTS", g.ns+"worker:"+g.worker.IDs()[0]))
		return v == 0
	})
}

func (g *goldenRun) quit() {
	g.t.Helper()
	g.worker.Shutdown()
	g.release()
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Fatalf("worker: %v", err)
		}
		g.done <- nil
	case <-time.After(10 * time.Second):
		g.t.Fatal("worker did not stop")
	}
}

func (g *goldenRun) snapshot(label string) {
	g.snapshots = append(g.snapshots, snapshot{Label: label, Keys: goldentest.Dump(g.t, g.conn)})
}

// adjust lets a scenario state its deliberate differences: it may edit the expected
// trace lines and keyspaces, and the actual ones (for example to check and remove keys
// php-resque does not write).
type adjust struct {
	expectLine func(string) string
	expectKeys func(label string, keys map[string]goldentest.KeyDump)
	actualKeys func(label string, keys map[string]goldentest.KeyDump)
	actualLine func(string) (string, bool)
	// expectExtra adds expected lines to a phase, for writes php-resque skipped by a
	// race goresque does not have.
	expectExtra map[string][]string
}

func (g *goldenRun) compare(adj adjust) {
	t := g.t
	t.Helper()
	// MONITOR lines arrive asynchronously: wait for an end marker before stopping.
	g.do("ECHO", "# end")
	g.waitFor("monitor end marker", func() bool {
		l := g.lines()
		return len(l) > 0 && l[len(l)-1] == `"ECHO" "# end"`
	})
	g.stopMo()
	final := goldentest.Dump(g.t, g.conn)
	base := goldentest.Path("..", g.dir, g.name)
	exp := goldentest.LoadExpect(t, base)
	n := goldentest.NewNormalizer()
	// Number ids and pids in trace order, as the golden normalisation did.
	var actualLines []string
	for _, l := range g.lines() {
		actualLines = append(actualLines, goldentest.UnifyLine(n.Text(l)))
	}
	check := func(label string, want, got map[string]goldentest.KeyDump) {
		want = goldentest.UnifyKeys(want)
		if adj.expectKeys != nil {
			adj.expectKeys(label, want)
		}
		if adj.actualKeys != nil {
			adj.actualKeys(label, got)
		}
		goldentest.CompareKeys(t, fmt.Sprintf("%s/%s keyspace %q", g.dir, g.name, label), want, got)
	}
	if len(exp.Snapshots) != len(g.snapshots) {
		t.Fatalf("%d snapshots, golden has %d", len(g.snapshots), len(exp.Snapshots))
	}
	for i, s := range exp.Snapshots {
		if s.Label != g.snapshots[i].Label {
			t.Fatalf("snapshot %d is %q, golden %q", i, g.snapshots[i].Label, s.Label)
		}
		check(s.Label, s.Keys, n.Keys(g.snapshots[i].Keys))
	}
	check("final", exp.Final, n.Keys(final))

	// Traces, phase by phase.
	rawTrace, err := os.ReadFile(base + ".commands.norm.txt")
	if err != nil {
		t.Fatal(err)
	}
	var wantLines []string
	for _, l := range strings.Split(strings.TrimSpace(string(rawTrace)), "\n") {
		l = goldentest.UnifyLine(l)
		if adj.expectLine != nil {
			l = adj.expectLine(l)
		}
		wantLines = append(wantLines, l)
	}
	var gotLines []string
	for _, l := range actualLines {
		if strings.HasPrefix(l, `"ECHO" "# phase: `) {
			gotLines = append(gotLines, "# phase: "+strings.TrimSuffix(strings.TrimPrefix(l, `"ECHO" "# phase: `), `"`))
			continue
		}
		if adj.actualLine != nil {
			var keep bool
			if l, keep = adj.actualLine(l); !keep {
				continue
			}
		}
		gotLines = append(gotLines, l)
	}
	wantPhases, gotPhases := splitPhases(wantLines), splitPhases(gotLines)
	for i := range wantPhases {
		wantPhases[i].lines = append(wantPhases[i].lines, adj.expectExtra[wantPhases[i].name]...)
	}
	if len(wantPhases) != len(gotPhases) {
		t.Fatalf("phases: got %v, golden %v", phaseNames(gotPhases), phaseNames(wantPhases))
	}
	workerStarted := false
	for i, wp := range wantPhases {
		gp := gotPhases[i]
		if wp.name != gp.name {
			t.Fatalf("phase %d: got %q, golden %q", i, gp.name, wp.name)
		}
		workerStarted = workerStarted || strings.HasPrefix(wp.name, "worker starts")
		// Before any worker runs, a phase is the pusher's alone: compare it exactly.
		if !workerStarted {
			w, gg := filterCmds(wp.lines, isEnqueueCmd), filterCmds(gp.lines, isEnqueueCmd)
			if strings.Join(w, "\n") != strings.Join(gg, "\n") {
				t.Errorf("%s/%s phase %q commands differ:\n%s", g.dir, g.name, wp.name, goldentest.LineDiff(strings.Join(w, "\n"), strings.Join(gg, "\n")))
			}
			continue
		}
		w, gg := filterCmds(wp.lines, isWriteCmd), filterCmds(gp.lines, isWriteCmd)
		wo, go_ := filterCmds(w, isClaimRecord), filterCmds(gg, isClaimRecord)
		if strings.Join(wo, "\n") != strings.Join(go_, "\n") {
			t.Errorf("%s/%s phase %q: jobs taken in another order:\n%s", g.dir, g.name, wp.name, goldentest.LineDiff(strings.Join(wo, "\n"), strings.Join(go_, "\n")))
		}
		sort.Strings(w)
		sort.Strings(gg)
		if strings.Join(w, "\n") != strings.Join(gg, "\n") {
			t.Errorf("%s/%s phase %q writes differ (sorted):\n%s", g.dir, g.name, wp.name, goldentest.LineDiff(strings.Join(w, "\n"), strings.Join(gg, "\n")))
		}
	}
}

type phaseLines struct {
	name  string
	lines []string
}

func splitPhases(lines []string) []phaseLines {
	var out []phaseLines
	for _, l := range lines {
		if name, ok := strings.CutPrefix(l, "# phase: "); ok {
			out = append(out, phaseLines{name: name})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].lines = append(out[len(out)-1].lines, l)
		}
	}
	return out
}

func phaseNames(p []phaseLines) []string {
	var s []string
	for _, x := range p {
		s = append(s, x.name)
	}
	return s
}

func cmdName(l string) string {
	if !strings.HasPrefix(l, `"`) {
		return ""
	}
	end := strings.Index(l[1:], `"`)
	if end < 0 {
		return ""
	}
	return strings.ToUpper(l[1 : end+1])
}

func normCmd(l string) string {
	name := cmdName(l)
	return `"` + name + `"` + l[len(name)+2:]
}

func filterCmds(lines []string, keep func(string) bool) []string {
	var out []string
	for _, l := range lines {
		if keep(l) {
			out = append(out, normCmd(l))
		}
	}
	return out
}

func isEnqueueCmd(l string) bool {
	switch cmdName(l) {
	case "SELECT", "PING", "ECHO", "":
		return false
	}
	return true
}

// isWriteCmd keeps the commands that change php-resque's keys. LPOP and BLPOP are left
// out: MONITOR does not show whether they returned a job, and idle rounds repeat a
// timing-dependent number of times; what they took shows in the "working on" records.
func isWriteCmd(l string) bool {
	switch cmdName(l) {
	case "SADD", "SREM", "SET", "DEL", "RPUSH", "LPUSH", "INCRBY", "EXPIRE", "LREM", "ZADD", "ZREM":
	default:
		return false
	}
	return !strings.Contains(l, ":workers:heartbeat") && !strings.Contains(l, ":goresque:inflight") &&
		!strings.Contains(l, ":goresque:pidns") && !strings.Contains(l, ":goresque:class") &&
		!strings.Contains(l, ":goresque:handlers")
}

func isClaimRecord(l string) bool {
	return strings.HasPrefix(l, `"SET"`) && regexp.MustCompile(`^"SET" "[^"]*:worker:[^"]*" "\{`).MatchString(l)
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}
