package resque

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/goresque/goresque/internal/goldentest"
)

// goldenKeyNames returns every key php-resque wrote in the recorded golden scenarios (final
// keyspaces and snapshots, normalised: <HOST>, <PID1>, <ID1>, <TIME>), from the module's
// copy (testdata/golden) and, when present, the full recordings in ../shared/golden, which
// also hold the php-resque-scheduler scenarios.
func goldenKeyNames(t *testing.T) (names map[string]bool, shared bool) {
	t.Helper()
	names = map[string]bool{}
	patterns := []string{filepath.Join("..", "testdata", "golden", "*", "*.keys.norm.json")}
	sharedDir := filepath.Join("..", "..", "shared", "golden")
	if _, err := os.Stat(sharedDir); err == nil {
		shared = true
		patterns = append(patterns, filepath.Join(sharedDir, "*", "*.keys.norm.json"))
	}
	for _, pattern := range patterns {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("no golden key files at %s (%v)", pattern, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var exp goldentest.Expect
			if err := json.Unmarshal(b, &exp); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for k := range exp.Final {
				names[k] = true
			}
			for _, s := range exp.Snapshots {
				for k := range s.Keys {
					names[k] = true
				}
			}
		}
	}
	return names, shared
}

// TestKeys pins every key to its literal, as asynq's base_test.go does. Keys php-resque
// writes (origin "php-resque", or "scheduler" for php-resque-scheduler's) must also appear
// in the golden recordings of real php-resque, so a typo here and in the literal together
// still fails; keys of other origins name where they come from.
func TestKeys(t *testing.T) {
	t.Parallel()
	golden, shared := goldenKeyNames(t)
	const (
		id     = "<HOST>:<PID1>:default" // a worker id, normalised as in the golden files
		jobID  = "<ID1>"
		phpRes = "php-resque"
		sched  = "scheduler"
	)
	k := NewKeys("resque")
	for _, tc := range []struct {
		name, got, want string
		origin          string // php-resque, scheduler, ruby (resque 2.x), goresque
	}{
		{"Namespace", k.Namespace(), "resque:", ""},
		{"Queues", k.Queues(), "resque:queues", phpRes},
		{"Queue", k.Queue("default"), "resque:queue:default", phpRes},
		{"Queue non-ASCII", k.Queue("emails/ünï"), "resque:queue:emails/ünï", phpRes},
		{"Workers", k.Workers(), "resque:workers", phpRes},
		{"Worker", k.Worker(id), "resque:worker:" + id, phpRes},
		{"WorkerStarted", k.WorkerStarted(id), "resque:worker:" + id + ":started", phpRes},
		{"WorkerStarted all queues", k.WorkerStarted("<HOST>:<PID1>:*"), "resque:worker:<HOST>:<PID1>:*:started", phpRes},
		{"Stat processed", k.Stat("processed"), "resque:stat:processed", phpRes},
		{"Stat failed", k.Stat("failed"), "resque:stat:failed", phpRes},
		{"WorkerStat processed", k.WorkerStat("processed", id), "resque:stat:processed:" + id, phpRes},
		{"WorkerStat failed", k.WorkerStat("failed", id), "resque:stat:failed:" + id, phpRes},
		{"Failed", k.Failed(), "resque:failed", phpRes},
		{"JobStatus", k.JobStatus(jobID, ""), "resque:job:<ID1>:status", phpRes},
		{"JobStatus prefix (v1.3.6)", k.JobStatus(jobID, "tenant1"), "resque:job:tenant1_<ID1>:status", phpRes},
		{"JobPID (v1.3.6)", k.JobPID(jobID), "resque:job:<ID1>:pid", phpRes},
		{"DelayedSchedule", k.DelayedSchedule(), "resque:delayed_queue_schedule", sched},
		{"Delayed", k.Delayed("<TIME>"), "resque:delayed:<TIME>", sched},
		// Ruby resque 2.x (lib/resque/worker.rb: WORKER_HEARTBEAT_KEY, prune_dead_workers).
		{"Heartbeats", k.Heartbeats(), "resque:workers:heartbeat", "ruby"},
		{"PruneLock", k.PruneLock(), "resque:pruning_dead_workers_in_progress", "ruby"},
		// Ruby resque (Resque::Worker#paused?) and resque-scheduler (timestamps:<item>).
		{"PauseAllWorkers", k.PauseAllWorkers(), "resque:pause-all-workers", "ruby"},
		{"DelayedTimestamps", k.DelayedTimestamps(`{"class":"A","args":[],"queue":"q"}`), `resque:timestamps:{"class":"A","args":[],"queue":"q"}`, "ruby"},
		// goresque's own (README: compatibility); goldentest.GoresqueOnly must know it.
		{"InFlight", k.InFlight(), "resque:goresque:inflight", "goresque"},
		{"PIDNamespaces", k.PIDNamespaces(), "resque:goresque:pidns", "goresque"},
		{"Classes", k.Classes(), "resque:goresque:classes", "goresque"},
		{"Class", k.Class(`App\Jobs\SendMail`), `resque:goresque:class:App\Jobs\SendMail`, "goresque"},
		{"Handlers", k.Handlers(), "resque:goresque:handlers", "goresque"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
			switch tc.origin {
			case phpRes, sched:
				if tc.origin == sched && !shared {
					if os.Getenv("CI") == "true" {
						t.Fatal("../shared/golden is missing: the scheduler recordings must be checked in CI")
					}
					t.Skip("../shared/golden is missing: no php-resque-scheduler recording to check against")
				}
				if !golden[tc.want] {
					t.Errorf("%q is in no golden recording of php-resque", tc.want)
				}
			case "ruby", "goresque":
				if golden[tc.want] {
					t.Errorf("%q is in a php-resque recording; origin %s is wrong", tc.want, tc.origin)
				}
				if tc.origin == "goresque" && !goldentest.GoresqueOnly(tc.want) {
					t.Errorf("goldentest.GoresqueOnly(%q) is false: golden comparisons would flag it", tc.want)
				}
			}
		})
	}
}

// TestNewKeysNamespace checks Resque_Redis::prefix's rules: a missing trailing colon is
// added and the empty namespace is "resque:" (golden 28: PREFIX=myapp gives myapp:queues).
func TestNewKeysNamespace(t *testing.T) {
	t.Parallel()
	golden, _ := goldenKeyNames(t)
	for _, tc := range []struct{ ns, want string }{
		{"", "resque:"},
		{"resque", "resque:"},
		{"resque:", "resque:"},
		{"myapp", "myapp:"},
		{"myapp:", "myapp:"},
		{"a:b", "a:b:"},
	} {
		if got := NewKeys(tc.ns).Namespace(); got != tc.want {
			t.Errorf("NewKeys(%q).Namespace() = %q, want %q", tc.ns, got, tc.want)
		}
	}
	if q := NewKeys("myapp").Queues(); q != "myapp:queues" || !golden[q] {
		t.Errorf("NewKeys(\"myapp\").Queues() = %q (in golden 28: %v)", q, golden[q])
	}
}
