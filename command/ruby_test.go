package command

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/interop"
)

// Issue 8 item 1: a real Ruby resque 2.7.0 worker starting on the same host, for the same
// queues, runs its prune_dead_workers (same-host pids from `ps | grep -E
// "[r]esque:work|[r]esque:\sStarting|[r]esque-[0-9]"`). It must leave the live goresque
// worker and its running job alone: the process title carries "(goresque:work)".
func TestRubyWorkerLeavesLiveGoresqueAlone(t *testing.T) {
	t.Parallel()
	lib := interop.RubyLib(t)
	p := newProgram(t)
	p.start("QUEUE=default")
	id := p.waitWorkers(1)[0]
	p.enqueue("Test_Sleep", map[string]any{"seconds": 30})
	p.waitBusy(id)

	cmd := exec.Command("ruby", "-I"+lib, filepath.Join(interop.Root(t), "testdata", "interop", "ruby_client.rb"),
		"unix://"+server(t).Socket, "worker", "default")
	cmd.Env = append(os.Environ(), "RESQUE_NAMESPACE="+p.prefix)
	ruby := interop.Start(t, cmd)
	rubyID := ":" + strconv.Itoa(cmd.Process.Pid) + ":default"
	p.waitFor("the Ruby worker to register", 20*time.Second, func(c redis.Conn) bool {
		ids, _ := redis.Strings(c.Do("SMEMBERS", p.key("workers")))
		return strings.Contains(strings.Join(ids, " "), rubyID)
	})
	c := p.pool.Get()
	defer c.Close()
	if n, _ := redis.Int(c.Do("SISMEMBER", p.key("workers"), id)); n != 1 {
		t.Errorf("the Ruby worker's prune unregistered the live goresque worker %s:\n%s", id, ruby.Output())
	}
	if n, _ := redis.Int(c.Do("EXISTS", p.key("worker:"+id))); n != 1 {
		t.Errorf("the Ruby worker's prune settled goresque's running job")
	}
	if n, _ := redis.Int(c.Do("LLEN", p.key("failed"))); n != 0 {
		f, _ := redis.Strings(c.Do("LRANGE", p.key("failed"), 0, -1))
		t.Errorf("failed = %v", f)
	}
	p.signal(syscall.SIGTERM)
	p.wait(10 * time.Second)
}
