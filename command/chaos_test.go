package command

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/chaos"
	"github.com/goresque/goresque/internal/redistest"
)

// chaosProgramEnv makes the test binary the worker under test of the chaos test: goresque
// with the Chaos_Job handler (TestMain's GORESQUE_TEST_PROGRAM gives testMux instead).
const chaosProgramEnv = "GORESQUE_TEST_CHAOS_PROGRAM"

// TestChaosNoJobLost is the short version of scripts/chaos: goresque worker processes work
// 500 tracked jobs while they are SIGKILLed (process and process group), their Redis
// connections are killed, or (second case) they are stopped with SIGQUIT, at random
// moments, and are restarted after each kill or stop; at the end
// every job must be accounted for: performed, or recorded in failed as a dirty exit (fail),
// or performed after a requeue (requeue); none lost, none performed twice except a
// requeued one, the counters consistent.
//
// It does not depend on timing: faults fire once a share of the jobs has been taken and a
// job of the current worker is in flight; a killed worker's jobs are read from its
// in-flight records after its death, before the restarted worker prunes them.
func TestChaosNoJobLost(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: a few seconds of worker processes being killed")
	}
	for _, tc := range []struct {
		name string
		cfg  chaos.Config
	}{
		{"fail", chaos.Config{Concurrency: 4, DeadJobs: "fail"}},
		{"requeue-count-blocking", chaos.Config{Concurrency: 3, Count: 2, Blocking: true, DeadJobs: "requeue", Kinds: chaos.AllKinds}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A server of its own: CLIENT KILL hits every connection but the driver's.
			srv := redistest.StartTB(t, redistest.Options{})
			cfg := tc.cfg
			cfg.Jobs = 500
			cfg.Faults = 8
			cfg.Interval = "0.05"
			cfg.MaxSleep = 20 * time.Millisecond
			cfg.RestartDelay = 100 * time.Millisecond
			cfg.Timeout = 90 * time.Second
			cfg.Program = []string{os.Args[0], "work"}
			cfg.Env = []string{chaosProgramEnv + "=1"}
			cfg.Network, cfg.Addr = "unix", srv.Socket
			cfg.WorkerLog = filepath.Join(t.TempDir(), "worker.log")
			progress := &syncBuffer{}
			cfg.Progress = progress

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := chaos.Run(ctx, cfg)
			if err != nil {
				t.Fatalf("chaos run: %v\n%s", err, progress.String())
			}
			var out strings.Builder
			rep.Print(&out)
			t.Logf("\n%s%s", progress.String(), out.String())
			fail := func() {
				if log, err := os.ReadFile(cfg.WorkerLog); err == nil {
					t.Logf("worker log:\n%s", log)
				}
			}
			if rep.Lost != 0 {
				t.Errorf("%d jobs lost: %v", rep.Lost, rep.LostIDs)
			}
			if !rep.OK() {
				t.Errorf("not every job settled, or inconsistencies: queued %d, in flight %d, anomalies %v", rep.Queued, rep.InFlight, rep.Anomalies)
			}
			if len(rep.Faults) != cfg.Faults {
				t.Errorf("%d faults injected, want %d", len(rep.Faults), cfg.Faults)
			}
			if rep.HeldAtKill == 0 {
				t.Errorf("no SIGKILL landed while a job was in flight: the test proved nothing")
			}
			if rep.Performed+rep.Failed != cfg.Jobs {
				t.Errorf("performed %d + failed %d != %d jobs", rep.Performed, rep.Failed, cfg.Jobs)
			}
			switch cfg.DeadJobs {
			case "fail":
				if rep.Duplicates != 0 || int64(rep.HeldAtKill) != rep.FailedLen {
					t.Errorf("fail: %d duplicates, %d jobs held by killed workers, %d failure records", rep.Duplicates, rep.HeldAtKill, rep.FailedLen)
				}
			case "requeue":
				if rep.Failed != 0 || rep.Performed != cfg.Jobs {
					t.Errorf("requeue: %d failed, %d performed of %d", rep.Failed, rep.Performed, cfg.Jobs)
				}
			}
			if t.Failed() {
				fail()
			}
		})
	}
}
