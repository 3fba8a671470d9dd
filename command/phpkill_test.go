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
	"github.com/goresque/goresque/resque"
)

// A worker killed with SIGKILL while a PHP job runs takes the job's php process with it
// (no orphan goes on with a job the next worker records as a dirty exit), in fork isolation
// the forked job child too (through FFI's prctl), and the next worker on the host records
// the job as failed.
func TestKilledWorkerTakesItsPHPProcessAlong(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("PHP subprocess tests are skipped with -short")
	}
	app, _ := filepath.Abs(filepath.Join("..", "testdata", "phpapp", "bootstrap.php"))
	for _, c := range []struct{ mode, isolation string }{{"job", "none"}, {"pool", "none"}, {"pool", "fork"}} {
		t.Run(c.mode+"-"+c.isolation, func(t *testing.T) {
			t.Parallel()
			p := newProgram(t)
			id := p.enqueue("Php_Sleep", map[string]any{"seconds": 30})
			env := []string{"QUEUE=default", "APP_INCLUDE=" + app, "GORESQUE_PHP=" + c.mode, "GORESQUE_PHP_ISOLATION=" + c.isolation}
			p.start(env...)
			w := p.waitWorkers(1)[0]
			p.waitBusy(w)
			var php []int
			// The php processes of the worker, and in fork isolation the job's child.
			p.waitFor("the php process running the job", 10*time.Second, func(redis.Conn) bool {
				php = childrenNamed(p.cmd.Process.Pid, "php")
				for _, pid := range php {
					php = append(php, childrenNamed(pid, "php")...)
				}
				return len(php) > 0 && (c.isolation != "fork" || len(php) > 1)
			})
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.wait(5 * time.Second)
			deadline := time.Now().Add(5 * time.Second)
			for _, pid := range php {
				for alive(pid) {
					if time.Now().After(deadline) {
						t.Fatalf("php process %d outlived its SIGKILLed worker", pid)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			// The next worker on this host prunes the dead one and records its job.
			next := newProgramSharing(t, p)
			next.start(env...)
			next.waitFor("the dead worker's job settled", 10*time.Second, func(redis.Conn) bool {
				st, err := next.client.Status(t.Context(), id, "")
				return err == nil && st.Status == resque.StatusFailed
			})
			f := next.failed()
			if len(f) != 1 || f[0]["exception"] != resque.ExceptionDirtyExit {
				t.Errorf("failed = %v", f)
			}
			next.signal(syscall.SIGQUIT)
			next.wait(10 * time.Second)
		})
	}
}

// newProgramSharing is a second program on the same namespace as p.
func newProgramSharing(t *testing.T, p *program) *program {
	q := *p
	q.cmd, q.out, q.done = nil, nil, nil
	return &q
}

// childrenNamed returns the pids of the children of ppid whose command starts with name.
func childrenNamed(ppid int, name string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasPrefix(s[strings.IndexByte(s, '(')+1:], name) {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}
