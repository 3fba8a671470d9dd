package measure

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisSample is Redis's CPU time and per-command call counts at one moment.
type RedisSample struct {
	// CPU is used_cpu_sys_main_thread+used_cpu_user_main_thread when the server reports
	// them (Redis ≥ 6.2): the thread that runs every command, the fleet's shared ceiling.
	// Older servers report the whole process (used_cpu_sys+used_cpu_user).
	CPU        time.Duration
	MainThread bool
	// Calls is INFO commandstats' calls per command, lower case as Redis names them
	// ("evalsha", "lpop", "client|setname"). Commands a Lua script runs count here too,
	// besides the script's own call.
	Calls map[string]int64
}

// SampleRedis reads INFO cpu and INFO commandstats in one call.
func SampleRedis(conn redis.Conn) (RedisSample, error) {
	info, err := redis.String(conn.Do("INFO", "cpu", "commandstats"))
	if err != nil {
		// Redis < 7 takes one section per INFO.
		a, err1 := redis.String(conn.Do("INFO", "cpu"))
		b, err2 := redis.String(conn.Do("INFO", "commandstats"))
		if err1 != nil || err2 != nil {
			return RedisSample{}, fmt.Errorf("measure: INFO: %w", err)
		}
		info = a + "\n" + b
	}
	s := RedisSample{Calls: map[string]int64{}}
	var all, main float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			all += f
		case "used_cpu_sys_main_thread", "used_cpu_user_main_thread":
			f, _ := strconv.ParseFloat(v, 64)
			main += f
			s.MainThread = true
		}
		if name, ok := strings.CutPrefix(k, "cmdstat_"); ok {
			// calls=12,usec=34,usec_per_call=2.83,rejected_calls=0,failed_calls=0
			for _, kv := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(kv, "calls="); ok {
					s.Calls[name], _ = strconv.ParseInt(n, 10, 64)
				}
			}
		}
	}
	if s.MainThread {
		all = main
	}
	s.CPU = time.Duration(all * float64(time.Second))
	return s, nil
}

// Delta is what Redis did between two samples, less the commands the benchmark itself sent
// (own, as counted by a Counter) and INFO.
type Delta struct {
	CPU   time.Duration
	Calls map[string]int64
}

// Diff returns after minus before, less own (the benchmark's commands in between, lower
// case) and without INFO.
func Diff(before, after RedisSample, own map[string]int64) Delta {
	d := Delta{CPU: after.CPU - before.CPU, Calls: map[string]int64{}}
	for k, v := range after.Calls {
		if k == "info" {
			continue
		}
		if n := v - before.Calls[k] - own[k]; n != 0 {
			d.Calls[k] = n
		}
	}
	return d
}

// Total is the number of calls of every command.
func (d Delta) Total() int64 {
	var t int64
	for _, v := range d.Calls {
		t += v
	}
	return t
}

// Scripts is the number of script calls (EVAL, EVALSHA, FCALL and their _RO forms): one
// round trip each, whatever they run inside.
func (d Delta) Scripts() int64 {
	var t int64
	for _, k := range []string{"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"} {
		t += d.Calls[k]
	}
	return t
}

// PerJob formats the calls per job by command, most frequent first, leaving out those
// below 0.005 per job: "evalsha 1.00, lpop 0.02".
func (d Delta) PerJob(jobs int) string {
	type kv struct {
		k string
		v int64
	}
	var s []kv
	for k, v := range d.Calls {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	var out []string
	for _, e := range s {
		per := float64(e.v) / float64(jobs)
		if per < 0.005 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %.2f", e.k, per))
	}
	return strings.Join(out, ", ")
}

// Counter counts the commands a benchmark sends itself, so that Diff can take them out of
// Redis's totals.
type Counter struct {
	mu sync.Mutex
	n  map[string]int64
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// Sub returns after minus before, per command.
func Sub(after, before map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(after))
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

func (c *Counter) add(cmd string) {
	if cmd == "" {
		return // redigo's flush-and-receive
	}
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[strings.ToLower(cmd)]++
	c.mu.Unlock()
}

// Wrap returns conn with every command it sends counted.
func (c *Counter) Wrap(conn redis.Conn) redis.Conn { return &countingConn{Conn: conn, c: c} }

type countingConn struct {
	redis.Conn
	c *Counter
}

func (cc *countingConn) Do(cmd string, args ...any) (any, error) {
	cc.c.add(cmd)
	return cc.Conn.Do(cmd, args...)
}

func (cc *countingConn) Send(cmd string, args ...any) error {
	cc.c.add(cmd)
	return cc.Conn.Send(cmd, args...)
}
