package resque

// Liveness of workers on this host, read from /proc. php-resque and Ruby resque decide
// that a same-host worker is alive when its pid shows in `ps` with "resque" in its command
// line; that calls a live node-resque worker ("node app.js") dead and keeps a dead worker
// whose pid was reused by any process named "*resque*". goresque asks instead whether the
// pid's process started before the worker registered.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// selfPIDNamespace names this process's pid namespace ("pid:[4026531836]"), or "" where
// there is no /proc.
func selfPIDNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}

// procInfo is what /proc tells of a pid.
type procInfo struct {
	exists  bool
	started time.Time // zero when unknown
}

// procTable reads /proc lazily, once per prune.
type procTable struct {
	available bool // /proc is mounted: a missing /proc/<pid> means no such process
	bootTime  time.Time
	resque    map[int]bool // filled on first use: php-resque's `ps | grep [r]esque`
}

func newProcTable() *procTable {
	p := &procTable{}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return p
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				p.bootTime = time.Unix(sec, 0)
				p.available = true
			}
		}
	}
	return p
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's starttime: 100 on every Linux
// architecture goresque builds for.
const clockTicks = 100

// info returns whether pid exists and when it started.
func (p *procTable) info(pid int) procInfo {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}
	}
	return procInfo{exists: true, started: p.startTime(b)}
}

// startTime parses field 22 (starttime, clock ticks after boot) of a /proc/<pid>/stat line.
// The command name (field 2) is in parentheses and may hold spaces and ")": fields are
// counted after its last ")".
func (p *procTable) startTime(stat []byte) time.Time {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || p.bootTime.IsZero() {
		return time.Time{}
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return time.Time{}
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return p.bootTime.Add(time.Duration(ticks) * time.Second / clockTicks)
}

// resquePID reports whether pid's command line contains "resque": php-resque's
// workerPids() (`ps -A -o pid,command | grep [r]esque`), the rule of last resort.
func (p *procTable) resquePID(pid int) bool {
	if p.resque == nil {
		p.resque = resquePIDs()
	}
	return p.resque[pid]
}

// resquePIDs returns the pids of live processes whose command line contains "resque",
// read from /proc where there is one, else from ps.
func resquePIDs() map[int]bool {
	pids := map[int]bool{}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && bytes.Contains(cmd, []byte("resque")) {
				pids[pid] = true
			}
		}
		return pids
	}
	out, err := exec.Command("ps", "-A", "-o", "pid,command").Output()
	if err != nil {
		return pids
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "resque") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 0 {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				pids[pid] = true
			}
		}
	}
	return pids
}

// parseStarted reads worker:<id>:started as each implementation writes it: php-resque 1.x
// strftime("%a %b %d %H:%M:%S %Z %Y"), v1.3.6 date("D M d H:i:s T Y"), Ruby's
// Time#to_s "2026-12-01 19:14:37 +0000", node-resque's unix seconds, ISO 8601. Zone
// abbreviations are read in the local zone: the writer ran on this host.
func parseStarted(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		if sec > 1e12 { // milliseconds
			return time.UnixMilli(sec), true
		}
		return time.Unix(sec, 0), true
	}
	for _, layout := range []string{"Mon Jan 02 15:04:05 MST 2006", "Mon Jan _2 15:04:05 MST 2006", "2006-01-02 15:04:05 -0700", time.RFC3339, time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// redisTime returns the Redis server's clock (TIME). Every heartbeat and every staleness
// decision uses it, as Ruby resque's data_store.server_time does, so that hosts whose
// clocks disagree never prune each other's live workers.
func redisTime(conn redis.Conn) (time.Time, error) {
	v, err := redis.Int64s(conn.Do("TIME"))
	if err != nil {
		return time.Time{}, fmt.Errorf("redis TIME: %w", err)
	}
	if len(v) != 2 {
		return time.Time{}, fmt.Errorf("redis TIME: %d values", len(v))
	}
	return time.Unix(v[0], v[1]*1000), nil
}
