package command

import (
	"context"
	"os"
	"os/exec"
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
//
// The php case makes a third of the jobs the PHP class Chaos_PhpJob, run by the worker's
// PHP bridge (warm processes, no fork): each SIGKILL waits for a PHP job in flight,
// kill-group kills the worker with its php processes, and after a kill of the worker alone
// its php processes must die by themselves (Pdeathsig). PHP jobs are accounted exactly as
// Go jobs.
func TestChaosNoJobLost(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: a few seconds of worker processes being killed")
	}
	app, err := filepath.Abs(filepath.Join("..", "testdata", "phpapp", "bootstrap.php"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  chaos.Config
	}{
		{"fail", chaos.Config{Concurrency: 4, DeadJobs: "fail"}},
		{"requeue-count-blocking", chaos.Config{Concurrency: 3, Count: 2, Blocking: true, DeadJobs: "requeue", Kinds: chaos.AllKinds}},
		{"php-pool-none", chaos.Config{Jobs: 300, Faults: 6, Concurrency: 4, DeadJobs: "fail",
			PHPShare: 1.0 / 3, PHPMode: "pool", PHPIsolation: "none", AppInclude: app}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.PHPShare > 0 {
				needPHPForChaos(t)
			}
			t.Parallel()
			// A server of its own: CLIENT KILL hits every connection but the driver's.
			srv := redistest.StartTB(t, redistest.Options{})
			cfg := tc.cfg
			if cfg.Jobs == 0 {
				cfg.Jobs, cfg.Faults = 500, 8
			}
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
			if cfg.PHPShare > 0 {
				php := rep.PHP
				if want := cfg.Jobs / 3; php.Jobs != want || php.Performed+php.Failed != want {
					t.Errorf("PHP jobs: %d enqueued, %d performed + %d failed, want %d", php.Jobs, php.Performed, php.Failed, want)
				}
				if php.HeldAtKill == 0 {
					t.Errorf("no SIGKILL landed while a PHP job was in flight")
				}
				if php.TreeKills == 0 || php.TreeKilled == 0 {
					t.Errorf("kill-group killed no php process (%d faults)", php.TreeKills)
				}
				// Isolation none: the worker's php processes, and only they, run its PHP jobs.
				if php.AloneKills == 0 || php.DiedWithWorker == 0 || php.Outlived != 0 || len(php.Orphans) != 0 {
					t.Errorf("kill-proc: %d kills of a worker with php processes, %d php processes died with it, %d outlived it, %d orphans",
						php.AloneKills, php.DiedWithWorker, php.Outlived, len(php.Orphans))
				}
			}
			if t.Failed() {
				fail()
			}
		})
	}
}

// needPHPForChaos skips the PHP chaos case when php is missing, and fails it under CI=true:
// a CI run must not pass having tested nothing (compat's needPHP does the same).
func needPHPForChaos(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("php"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("php not found under CI=true: %v", err)
		}
		t.Skipf("php not found: %v", err)
	}
}
