package command

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// TestCountStopDoesNotWaitForRestartBackoff: with COUNT, a worker process that crashed is
// restarted after a backoff (1 s doubling to 30 s). A stop signal (QUIT, TERM, INT) during
// that backoff is not acted on at once: superviseCount's loop counts the crashed worker as
// running until its restart timer fires (case <-restart: if stopping, running--), so the
// parent exits only when the backoff has run out, up to 30 s after the signal, although no
// worker process is left to wait for. Under a supervisor's stop timeout (Docker 10 s,
// Kubernetes 30 s) the parent is then SIGKILLed.
//
// Found by the chaos work; now the parent exits as soon as its running workers have,
// however long the pending restart's backoff.
func TestCountStopDoesNotWaitForRestartBackoff(t *testing.T) {
	p := newProgram(t)
	p.start("QUEUE=default", "COUNT=2")
	ids := p.waitWorkers(2)
	pidOf := func(id string) int {
		pid, _ := strconv.Atoi(strings.SplitN(id, ":", 3)[1])
		return pid
	}
	// Crash the same worker twice: the second restart waits 2 s.
	victim := pidOf(ids[0])
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{ids[0]: true, ids[1]: true}
	var replacement string
	p.waitFor("a replacement worker", 15*time.Second, func(c redis.Conn) bool {
		now, _ := redis.Strings(c.Do("SMEMBERS", p.key("workers")))
		if len(now) != 2 {
			return false
		}
		for _, id := range now {
			if pidOf(id) == victim {
				return false
			}
			if !before[id] {
				replacement = id
			}
		}
		return replacement != ""
	})
	if err := syscall.Kill(pidOf(replacement), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The worker is dead and its restart is 2 s away. Stop now.
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.signal(syscall.SIGQUIT)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the COUNT parent took %v to exit after SIGQUIT with one worker idle and one in restart backoff; want well under 1s", took.Round(10*time.Millisecond))
	}
}

// TestCountPIDFileHoldsTheParent: with COUNT>1 the pid file held a child's pid (each
// child wrote its own, the last one won), so `kill -QUIT $(cat pidfile)` stopped one
// worker and deleted the file while the parent and the other worker ran on. It must hold
// the parent's pid, stay while the workers run, and go when the parent exits.
func TestCountPIDFileHoldsTheParent(t *testing.T) {
	t.Parallel()
	p := newProgram(t)
	pidfile := filepath.Join(t.TempDir(), "goresque.pid")
	p.start("QUEUE=default", "COUNT=2", "PIDFILE="+pidfile)
	p.waitWorkers(2)
	time.Sleep(200 * time.Millisecond) // both children are past their own start-up
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid != p.cmd.Process.Pid {
		t.Fatalf("pid file holds %q; want the COUNT parent's pid %d", b, p.cmd.Process.Pid)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if ws := p.workers(); len(ws) != 0 {
		t.Errorf("still registered after QUIT to the pid in the pid file: %v", ws)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pid file left after the parent exited: %v", err)
	}
}
