package measure

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
)

// The benchmarks subtract their own commands from Redis's totals; what remains must be
// exactly what others sent, the commands run inside a script included.
func TestDiffSubtractsOwnCommandsAndKeepsScriptInnerCalls(t *testing.T) {
	t.Parallel()
	srv := redistest.StartTB(t, redistest.Options{})
	raw, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	var own Counter
	conn := own.Wrap(raw)
	defer conn.Close()
	other, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	before, err := SampleRedis(conn)
	if err != nil {
		t.Fatal(err)
	}
	own0 := own.Snapshot()
	for _, cmd := range [][]any{{"SET", "a", "1"}, {"GET", "a"}, {"GET", "a"}} {
		if _, err := conn.Do(cmd[0].(string), cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	// Another client: one script that runs GET and SET, and one INCR.
	if _, err := other.Do("EVAL", "redis.call('GET', KEYS[1]); return redis.call('SET', KEYS[1], '2')", 1, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Do("INCR", "n"); err != nil {
		t.Fatal(err)
	}
	after, err := SampleRedis(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !after.MainThread {
		t.Logf("this redis-server reports no main-thread CPU; the whole process's is used")
	}
	if after.CPU < before.CPU {
		t.Errorf("CPU went backwards: %v then %v", before.CPU, after.CPU)
	}
	d := Diff(before, after, Sub(own.Snapshot(), own0))
	want := map[string]int64{"eval": 1, "get": 1, "set": 1, "incr": 1}
	if len(d.Calls) != len(want) {
		t.Errorf("calls = %v, want %v", d.Calls, want)
	}
	for k, v := range want {
		if d.Calls[k] != v {
			t.Errorf("calls[%s] = %d, want %d (all: %v)", k, d.Calls[k], v, d.Calls)
		}
	}
	if d.Total() != 4 || d.Scripts() != 1 {
		t.Errorf("Total %d, Scripts %d; want 4, 1", d.Total(), d.Scripts())
	}
	if got, want := d.PerJob(2), "eval 0.50, get 0.50, incr 0.50, set 0.50"; got != want {
		t.Errorf("PerJob = %q, want %q", got, want)
	}
}

// A process tree: the root, its children and its process group; CPU and RSS summed.
func TestTreeFindsChildrenOfTheRoot(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	var procs []Proc
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if procs = Tree(pid); len(procs) == 3 {
			break
		}
	}
	if len(procs) != 3 {
		t.Fatalf("Tree(%d) = %+v, want sh and two sleeps", pid, procs)
	}
	for _, p := range procs {
		if p.PID != pid && p.PPID != pid {
			t.Errorf("%+v is not the root or its child", p)
		}
	}
	_, rss := Sum(procs)
	if rss <= 0 {
		t.Errorf("RSS %d, want > 0", rss)
	}
	var pids []int
	for _, p := range procs {
		pids = append(pids, p.PID)
	}
	// The same pages from statm as from stat, give or take what the processes mapped
	// between the two reads (sh and its sleeps may still be starting).
	if r := Resident(pids); r < rss/2 || r > rss*2 {
		t.Errorf("Resident = %d, Tree's RSS = %d", r, rss)
	}
	if r := Resident([]int{pid + 1_000_000}); r != 0 {
		t.Errorf("Resident of a pid that does not exist = %d", r)
	}
	if self := Tree(pid + 1_000_000); len(self) != 0 {
		t.Errorf("a pid that does not exist has a tree: %+v", self)
	}
}

// The RSS sampler of scripts/bench calls Resident every 20 ms and Tree every 250 ms: on the
// 2-core VM of the README, Tree (every process's stat) took 5-7 ms, Resident of one
// process about 20 µs.
func BenchmarkTree(b *testing.B) {
	for b.Loop() {
		Tree(os.Getpid())
	}
}

func BenchmarkResident(b *testing.B) {
	pids := []int{os.Getpid()}
	for b.Loop() {
		Resident(pids)
	}
}
