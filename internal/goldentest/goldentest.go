// Package goldentest compares Redis state with the traces recorded from real php-resque
// (testdata/golden, copied from ../shared/golden; see its README for the normalisation).
// The resque and compat tests share it.
package goldentest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// Host is the host name goresque workers use in golden tests, as in the recordings.
const Host = "vm"

// KeyDump is one key as the golden .keys.json files record it.
type KeyDump struct {
	Type  string `json:"type"`
	TTL   any    `json:"ttl"`
	Value any    `json:"value"`
}

// Dump reads every key of the server's current database.
func Dump(tb testing.TB, conn redis.Conn) map[string]KeyDump {
	tb.Helper()
	out := map[string]KeyDump{}
	for _, k := range redistest.Keys(tb, conn, "") {
		typ, _ := redis.String(conn.Do("TYPE", k))
		ttl, _ := redis.Int(conn.Do("TTL", k))
		d := KeyDump{Type: typ, TTL: ttl}
		switch typ {
		case "string":
			d.Value, _ = redis.String(conn.Do("GET", k))
		case "list":
			d.Value, _ = redis.Strings(conn.Do("LRANGE", k, 0, -1))
		case "set":
			v, _ := redis.Strings(conn.Do("SMEMBERS", k))
			sort.Strings(v)
			d.Value = v
		case "hash":
			d.Value, _ = redis.StringMap(conn.Do("HGETALL", k))
		case "zset":
			// As the golden files write a zset: [member, score] pairs in score order.
			v, _ := redis.Strings(conn.Do("ZRANGE", k, 0, -1, "WITHSCORES"))
			pairs := make([][]string, 0, len(v)/2)
			for i := 0; i+1 < len(v); i += 2 {
				pairs = append(pairs, []string{v[i], v[i+1]})
			}
			d.Value = pairs
		}
		out[k] = d
	}
	return out
}

// Normalizer applies the golden README's normalisation to goresque's output: job ids and
// worker pids numbered in order of first appearance, dates and times replaced.
type Normalizer struct {
	ids  map[string]string
	pids map[string]string
}

// NewNormalizer returns a Normalizer with fresh numbering.
func NewNormalizer() *Normalizer {
	return &Normalizer{ids: map[string]string{}, pids: map[string]string{}}
}

var (
	reID       = regexp.MustCompile(`[0-9a-f]{32,}`)
	reWorker   = regexp.MustCompile(`\b` + Host + `:([0-9]+):`)
	reISO      = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d`)
	reStrftime = regexp.MustCompile(`(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d\d:\d\d:\d\d [A-Z]+ \d{4}`)
	reTime     = regexp.MustCompile(`\b\d{10}(\.\d+)?\b`)
	reBtQuoted = regexp.MustCompile(`\\"backtrace\\":\[.*?\],\\"worker\\"`)
	reBt       = regexp.MustCompile(`"backtrace":\[.*?\],"worker"`)
	rePIDSet   = regexp.MustCompile(`("SET" "[^"]*:job:<ID\d+>:pid") "[^"]*"`)
)

// Text normalises s.
func (n *Normalizer) Text(s string) string {
	s = reID.ReplaceAllStringFunc(s, func(id string) string {
		if len(id) != 32 {
			return id // a script SHA1 or other hex run, not a job id
		}
		if v, ok := n.ids[id]; ok {
			return v
		}
		v := "<ID" + strconv.Itoa(len(n.ids)+1) + ">"
		n.ids[id] = v
		return v
	})
	s = reWorker.ReplaceAllStringFunc(s, func(m string) string {
		return "<HOST>:" + n.pid(reWorker.FindStringSubmatch(m)[1]) + ":"
	})
	s = reISO.ReplaceAllString(s, "<DATE_ISO8601>")
	s = reStrftime.ReplaceAllString(s, "<DATE_STRFTIME>")
	now := time.Now().Unix()
	return reTime.ReplaceAllStringFunc(s, func(m string) string {
		f, _ := strconv.ParseFloat(m, 64)
		if f < float64(now-3*86400) || f > float64(now+3*86400) {
			return m
		}
		if strings.Contains(m, ".") {
			return "<FLOAT_TIME>"
		}
		return "<TIME>"
	})
}

// Seed numbers ids in the given order before anything else is normalised, for callers that
// know the order in which the golden trace first showed them.
func (n *Normalizer) Seed(ids ...string) *Normalizer {
	for _, id := range ids {
		n.Text(id)
	}
	return n
}

func (n *Normalizer) pid(p string) string {
	if v, ok := n.pids[p]; ok {
		return v
	}
	v := "<PID" + strconv.Itoa(len(n.pids)+1) + ">"
	n.pids[p] = v
	return v
}

// Keys normalises a dump: key names and values, goresque-only keys left out.
//
// Keys are visited in sorted order, so that when several keys normalise to one name (the
// delayed:<ts> lists of several timestamps all become delayed:<TIME>) the last one in
// sorted order is kept, as in the golden files, and ids are numbered deterministically.
func (n *Normalizer) Keys(in map[string]KeyDump) map[string]KeyDump {
	out := map[string]KeyDump{}
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d := in[k]
		if GoresqueOnly(k) {
			continue
		}
		switch v := d.Value.(type) {
		case string:
			d.Value = n.Text(v)
		case []string:
			c := make([]string, len(v))
			for i, s := range v {
				c[i] = n.Text(s)
			}
			d.Value = c
		case [][]string:
			c := make([][]string, len(v))
			for i, pair := range v {
				for _, s := range pair {
					c[i] = append(c[i], n.Text(s))
				}
			}
			d.Value = c
		}
		out[n.Text(k)] = d
	}
	return UnifyKeys(out)
}

// JobPIDMarker replaces the pid stored in job:<id>:pid, in expectations and results alike:
// php-resque stores its forked child's pid, goresque the pid of the process running the job.
const JobPIDMarker = "<JOBPID>"

// UnifyLine replaces what legitimately differs in a MONITOR line (backtraces, the job pid).
func UnifyLine(s string) string {
	s = reBtQuoted.ReplaceAllString(s, `\"backtrace\":<BACKTRACE>,\"worker\"`)
	return rePIDSet.ReplaceAllString(s, `$1 "`+JobPIDMarker+`"`)
}

// UnifyKeys does for a keyspace what UnifyLine does for a line, and writes TTLs as the
// normalised golden files do.
func UnifyKeys(keys map[string]KeyDump) map[string]KeyDump {
	out := map[string]KeyDump{}
	for k, d := range keys {
		if strings.HasSuffix(k, ":pid") && d.Type == "string" {
			d.Value = JobPIDMarker
		}
		if ttl, ok := d.TTL.(int); ok && ttl > 0 {
			d.TTL = "<TTL ~86400>"
		}
		if f, ok := d.TTL.(float64); ok {
			d.TTL = int(f)
		}
		switch v := d.Value.(type) {
		case string:
			d.Value = reBt.ReplaceAllString(v, `"backtrace":<BACKTRACE>,"worker"`)
		case []string:
			c := make([]string, len(v))
			for i, s := range v {
				c[i] = reBt.ReplaceAllString(s, `"backtrace":<BACKTRACE>,"worker"`)
			}
			d.Value = c
		case []any:
			if len(v) > 0 {
				if _, pairs := v[0].([]any); pairs {
					// A zset's [member, score] pairs, as JSON decoded them.
					c := make([][]string, len(v))
					for i, p := range v {
						for _, s := range p.([]any) {
							c[i] = append(c[i], s.(string))
						}
					}
					d.Value = c
					break
				}
			}
			c := make([]string, len(v))
			for i, s := range v {
				c[i] = reBt.ReplaceAllString(s.(string), `"backtrace":<BACKTRACE>,"worker"`)
			}
			d.Value = c
		}
		out[k] = d
	}
	return out
}

// GoresqueOnly reports the keys goresque writes beside php-resque's (README: compatibility).
func GoresqueOnly(key string) bool {
	return strings.HasSuffix(key, ":workers:heartbeat") || strings.HasSuffix(key, ":goresque:inflight") ||
		strings.HasSuffix(key, ":goresque:pidns") || strings.HasSuffix(key, ":goresque:handlers") ||
		strings.HasSuffix(key, ":goresque:classes") || strings.Contains(key, ":goresque:class:")
}

// Expect is a golden .keys.norm.json file.
type Expect struct {
	Final     map[string]KeyDump `json:"final"`
	Snapshots []struct {
		Label string             `json:"label"`
		Keys  map[string]KeyDump `json:"keys"`
	} `json:"snapshots"`
}

// Path is the golden file base name for a dialect directory and scenario.
func Path(moduleRoot, dialect, scenario string) string {
	return filepath.Join(moduleRoot, "testdata", "golden", dialect, scenario)
}

// LoadExpect reads a scenario's .keys.norm.json.
func LoadExpect(tb testing.TB, base string) Expect {
	tb.Helper()
	raw, err := os.ReadFile(base + ".keys.norm.json")
	if err != nil {
		tb.Fatal(err)
	}
	var exp Expect
	if err := json.Unmarshal(raw, &exp); err != nil {
		tb.Fatal(err)
	}
	return exp
}

// CompareKeys compares a normalised keyspace with an expectation, reporting a line diff.
func CompareKeys(tb testing.TB, what string, want, got map[string]KeyDump) bool {
	tb.Helper()
	wb, _ := json.MarshalIndent(UnifyKeys(want), "", "  ")
	gb, _ := json.MarshalIndent(got, "", "  ")
	if string(wb) != string(gb) {
		tb.Errorf("%s differs:\n%s", what, LineDiff(string(wb), string(gb)))
		return false
	}
	return true
}

// LineDiff shows both texts line by line, marking the lines that differ.
func LineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w == g {
			fmt.Fprintf(&b, "   %s\n", w)
			continue
		}
		fmt.Fprintf(&b, " - %s\n + %s\n", w, g)
	}
	return b.String()
}
