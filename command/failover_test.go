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

// TestFailoverChaos is the short version of scripts/failover: tracked jobs go through two
// goresque worker processes that reach Redis through three sentinels, while the master is
// SIGKILLed and a replica promoted, twice. Each job's executions are recorded on a separate
// server that never fails. With GORESQUE_REDIS_WAIT_REPLICAS=1 no acknowledged job may be
// lost, stuck, or lose its outcome; without it, whatever the failovers cost is reported
// (Redis replicates asynchronously: a lost write is possible, not certain), and every job
// must still be accounted for.
func TestFailoverChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("failover chaos: redis servers and sentinels, two failovers per case")
	}
	for _, wait := range []int{0, 1} {
		name := "no-wait"
		if wait > 0 {
			name = "wait-1"
		}
		t.Run(name, func(t *testing.T) {
			h := redistest.StartHATB(t, redistest.HAOptions{DownAfter: 2 * time.Second})
			ledger := redistest.StartTB(t, redistest.Options{})
			progress := &syncBuffer{}
			cfg := chaos.FailoverConfig{
				Jobs: 600, Rate: 60, Workers: 2, Concurrency: 2, Failovers: 2, WaitReplicas: wait,
				MaxSleep: 2 * time.Millisecond, Timeout: 90 * time.Second, WaitTimeout: 5 * time.Second,
				HA: h, Ledger: ledger,
				Program: []string{os.Args[0], "work"}, Env: []string{chaosProgramEnv + "=1"},
				WorkerLog: filepath.Join(t.TempDir(), "worker.log"), Progress: progress,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
			defer cancel()
			rep, err := chaos.RunFailover(ctx, cfg)
			if err != nil {
				if b, err := os.ReadFile(cfg.WorkerLog); err == nil {
					t.Logf("worker log (tail):\n%s", tail(string(b), 60))
				}
				t.Fatalf("failover run: %v\n%s", err, progress.String())
			}
			var out strings.Builder
			rep.Print(&out)
			t.Logf("\n%s", out.String())
			if len(rep.Failovers) != 2 {
				t.Errorf("%d failovers, want 2", len(rep.Failovers))
			}
			if rep.Acked != cfg.Jobs {
				t.Errorf("%d jobs acknowledged, want %d", rep.Acked, cfg.Jobs)
			}
			if sum := rep.Performed + rep.Failed + rep.OutcomeLost + rep.Lost + rep.Stuck; sum != rep.Acked {
				t.Errorf("accounted %d of %d jobs", sum, rep.Acked)
			}
			if rep.Stuck != 0 || len(rep.Anomalies) != 0 {
				t.Errorf("%d jobs stuck, anomalies %v", rep.Stuck, rep.Anomalies)
			}
			// Each worker process logs each failover it follows once: not one line per
			// connection or per retry, and not silently.
			if rep.FailoverLogLines < len(rep.Failovers) || rep.FailoverLogLines > len(rep.Failovers)*cfg.Workers {
				t.Errorf("%d failover log lines for %d failovers and %d workers", rep.FailoverLogLines, len(rep.Failovers), cfg.Workers)
			}
			if wait > 0 && (rep.Lost != 0 || rep.OutcomeLost != 0 || rep.Failed != 0) {
				t.Errorf("WAIT=1: %d lost %v, %d outcomes lost, %d failed", rep.Lost, rep.LostIDs, rep.OutcomeLost, rep.Failed)
			}
			if t.Failed() {
				if b, err := os.ReadFile(cfg.WorkerLog); err == nil {
					t.Logf("worker log (tail):\n%s", tail(string(b), 40))
				}
			}
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
