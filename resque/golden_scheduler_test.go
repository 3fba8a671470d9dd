package resque

// Golden scenarios 30 and 31 (php-resque-scheduler's delayed jobs) replayed with goresque's
// EnqueueAt/EnqueueIn/RemoveDelayed and Scheduler doing the PHP side's work, compared with
// the recordings in both dialects:
//
//   - the keyspace at the "scheduled" snapshot and at the end, byte for byte after
//     normalisation;
//   - the enqueue phases write for write, in order;
//   - the scheduler phase as the sequence of jobs pushed onto queues (SADD queues, RPUSH
//     queue:<q>): same jobs, same payload shape, same order;
//   - the removal phases as the multiset of writes.
//
// Deliberate differences, each checked and then removed from the actual side: Ruby
// resque-scheduler's timestamps:<item> index (written by EnqueueAt, emptied when the job
// moves or is removed), the MULTI around EnqueueAt's writes, and the scheduler's reads and
// the Lua script's compare-before-take (LINDEX), which replace PHP's unguarded LPOP.

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/goldentest"
)

type phaseMode int

const (
	phaseWrites       phaseMode = iota // the writes, in order
	phaseMoves                         // only SADD queues and RPUSH queue:<q>, in order
	phaseWritesSorted                  // the writes as a multiset
)

func (g *goldenRun) compareDelayed(modes map[string]phaseMode) {
	t := g.t
	t.Helper()
	g.do("ECHO", "# end")
	g.waitFor("monitor end marker", func() bool {
		l := g.lines()
		return len(l) > 0 && l[len(l)-1] == `"ECHO" "# end"`
	})
	g.stopMo()
	final := goldentest.Dump(t, g.conn)
	base := goldentest.Path("..", g.dir, g.name)
	exp := goldentest.LoadExpect(t, base)
	n := goldentest.NewNormalizer()
	var got []string
	for _, l := range g.lines() {
		l = goldentest.UnifyLine(n.Text(l))
		if name, ok := strings.CutPrefix(l, `"ECHO" "# phase: `); ok {
			got = append(got, "# phase: "+strings.TrimSuffix(name, `"`))
			continue
		}
		switch cmdName(l) {
		case "MULTI", "EXEC":
			continue
		case "SADD", "SREM":
			if strings.Contains(l, `:timestamps:`) {
				continue
			}
		}
		got = append(got, l)
	}
	// Ruby's timestamps:<item> index: exactly the delayed:<ts> lists holding each waiting
	// item, nothing left behind for items that moved or were removed.
	dropRubyIndex := func(label string, keys map[string]goldentest.KeyDump) {
		want := map[string][]string{}
		for k, d := range keys {
			if strings.HasPrefix(k, g.ns+"delayed:") {
				for _, it := range d.Value.([]string) {
					if l := want[it]; len(l) == 0 || l[len(l)-1] != k {
						want[it] = append(want[it], k)
					}
				}
			}
		}
		for it := range want {
			sort.Strings(want[it])
		}
		for k, d := range keys {
			if it, ok := strings.CutPrefix(k, g.ns+"timestamps:"); ok {
				if strings.Join(d.Value.([]string), " ") != strings.Join(want[it], " ") {
					t.Errorf("keyspace %q: %s holds %v, want %v", label, k, d.Value, want[it])
				}
				delete(want, it)
				delete(keys, k)
			}
		}
		for it, ks := range want {
			t.Errorf("keyspace %q: no timestamps:<item> for %s in %v", label, it, ks)
		}
	}
	if len(exp.Snapshots) != len(g.snapshots) {
		t.Fatalf("%d snapshots, golden has %d", len(g.snapshots), len(exp.Snapshots))
	}
	for i, s := range exp.Snapshots {
		keys := g.snapshots[i].Keys
		dropRubyIndex(s.Label, keys)
		goldentest.CompareKeys(t, g.dir+"/"+g.name+" keyspace "+s.Label, s.Keys, n.Keys(keys))
	}
	dropRubyIndex("final", final)
	goldentest.CompareKeys(t, g.dir+"/"+g.name+" final keyspace", exp.Final, n.Keys(final))

	rawB, err := os.ReadFile(base + ".commands.norm.txt")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(rawB)), "\n") {
		want = append(want, goldentest.UnifyLine(l))
	}
	wp, gp := splitPhases(want), splitPhases(got)
	if len(wp) != len(gp) {
		t.Fatalf("phases: got %v, golden %v", phaseNames(gp), phaseNames(wp))
	}
	moves := func(l string) bool {
		return cmdName(l) == "SADD" && strings.Contains(l, `:queues"`) || cmdName(l) == "RPUSH" && strings.Contains(l, `:queue:`)
	}
	for i, w := range wp {
		if w.name != gp[i].name {
			t.Fatalf("phase %d: got %q, golden %q", i, gp[i].name, w.name)
		}
		var wl, gl []string
		switch modes[w.name] {
		case phaseWrites, phaseWritesSorted:
			wl, gl = filterCmds(w.lines, isWriteCmd), filterCmds(gp[i].lines, isWriteCmd)
			if modes[w.name] == phaseWritesSorted {
				sort.Strings(wl)
				sort.Strings(gl)
			}
		case phaseMoves:
			wl, gl = filterCmds(w.lines, moves), filterCmds(gp[i].lines, moves)
		}
		if strings.Join(wl, "\n") != strings.Join(gl, "\n") {
			t.Errorf("%s/%s phase %q differs:\n%s", g.dir, g.name, w.name, goldentest.LineDiff(strings.Join(wl, "\n"), strings.Join(gl, "\n")))
		}
	}
}

func (g *goldenRun) enqueueAt(at time.Time, queue string, args any) {
	g.t.Helper()
	if err := g.client.EnqueueAt(context.Background(), at, queue, "Harness_Succeed", args); err != nil {
		g.t.Fatal(err)
	}
}

func TestGoldenScheduler(t *testing.T) {
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String()+"/30-scheduler-enqueue-and-move", func(t *testing.T) {
			t.Parallel()
			g := newGolden(t, d, "30-scheduler-enqueue-and-move")
			now := time.Now()
			g.phase("enqueueAt now+2 (two jobs)")
			g.enqueueAt(now.Add(2*time.Second), "default", map[string]any{"n": "at1"})
			g.enqueueAt(now.Add(2*time.Second), "default", map[string]any{"n": "at2"})
			g.phase("enqueueIn 1")
			if err := g.client.EnqueueIn(context.Background(), time.Second, "default", "Harness_Succeed", map[string]any{"n": "in1"}); err != nil {
				t.Fatal(err)
			}
			g.phase("enqueueAt now-30 (in the past)")
			g.enqueueAt(now.Add(-30*time.Second), "other", map[string]any{"n": "past"})
			g.snapshot("scheduled")
			g.phase("scheduler starts")
			s, err := NewScheduler(g.pool, SchedulerConfig{Namespace: g.ns, Dialect: d, Interval: 50 * time.Millisecond, Hostname: goldenHost})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			defer func() { cancel(); <-done }()
			g.waitFor("delayed_queue_schedule empty", func() bool {
				n, _ := redis.Int(g.conn.Do("EXISTS", g.ns+"delayed_queue_schedule"))
				return n == 0
			})
			g.phase("stop the scheduler")
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			done <- nil
			g.compareDelayed(map[string]phaseMode{"scheduler starts": phaseMoves})
		})
		t.Run(d.String()+"/31-scheduler-remove-delayed", func(t *testing.T) {
			t.Parallel()
			g := newGolden(t, d, "31-scheduler-remove-delayed")
			now := time.Now()
			g.phase("schedule")
			g.enqueueAt(now.Add(100*time.Second), "default", map[string]any{"n": 1})
			g.enqueueAt(now.Add(100*time.Second), "default", map[string]any{"n": 1})
			g.enqueueAt(now.Add(100*time.Second), "default", map[string]any{"n": 2})
			g.enqueueAt(now.Add(200*time.Second), "default", map[string]any{"n": 3})
			g.snapshot("scheduled")
			g.phase("removeDelayed(default, Harness_Succeed, {n:1})")
			if n, err := g.client.RemoveDelayed(context.Background(), "default", "Harness_Succeed", map[string]any{"n": 1}); err != nil || n != 2 {
				t.Fatalf("RemoveDelayed = %d, %v; php-resque-scheduler removed 2", n, err)
			}
			g.phase("removeDelayedJobFromTimestamp(now+200, default, Harness_Succeed, {n:3})")
			if n, err := g.client.RemoveDelayedAt(context.Background(), now.Add(200*time.Second), "default", "Harness_Succeed", map[string]any{"n": 3}); err != nil || n != 1 {
				t.Fatalf("RemoveDelayedAt = %d, %v; php-resque-scheduler removed 1", n, err)
			}
			g.compareDelayed(map[string]phaseMode{
				"removeDelayed(default, Harness_Succeed, {n:1})":                          phaseWritesSorted,
				"removeDelayedJobFromTimestamp(now+200, default, Harness_Succeed, {n:3})": phaseWritesSorted,
			})
		})
	}
}
