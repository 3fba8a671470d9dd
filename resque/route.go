package resque

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
)

// Gradual routing (issue #14). php-resque has no notion of it: a class is a PHP class. A
// team porting a class to Go sends a share of its jobs to the Go handler and the rest to
// the PHP class (the Mux's fallback, the PHP bridge), watches both in `goresque classes`,
// then goes to 100% or rolls back, without a redeploy.
//
// A rule is the Go handler's share of a class's jobs, 0..100 (percent). The deployed
// default comes from Go (Mux.SetRoute) or GORESQUE_ROUTE; an override lives in Redis
// (Keys.Routes, class → "go:25%"), set by `goresque route` or Client.SetRoute, and is read
// by every worker at its next claim (see routeState).

// Implementations of a class: which side performed a job.
const (
	// ImplGo is a Go handler registered on the Mux for the job's class.
	ImplGo = "go"
	// ImplPHP is the Mux's fallback, the PHP bridge (compat), running the PHP class.
	ImplPHP = "php"
)

// implKey is the top-level key goresque adds to the status packet and the failure record
// of a routed job, naming the side that ran it (ImplGo or ImplPHP), so a failure can be
// traced to its side. php-resque, Ruby resque-web and node-resque read the keys they know
// and ignore it.
const implKey = "goresque_impl"

// ParseRoute reads a rule as `goresque route` and GORESQUE_ROUTE write it: "go" (every job
// to the Go handler), "php" (none: the rollback), or "go:N%" (N from 0 to 100; the % sign
// may be left out). It returns the Go handler's share in percent.
func ParseRoute(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "go":
		return 100, nil
	case "php":
		return 0, nil
	}
	if p, ok := strings.CutPrefix(s, "go:"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "%")))
		if err == nil && n >= 0 && n <= 100 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("route %q: want go, php or go:N%% with N from 0 to 100", s)
}

// FormatRoute writes share as ParseRoute reads it: "go" for 100, "php" for 0, else "go:N%".
func FormatRoute(share int) string {
	switch {
	case share >= 100:
		return "go"
	case share <= 0:
		return "php"
	}
	return "go:" + strconv.Itoa(share) + "%"
}

// ParseRoutes parses GORESQUE_ROUTE: `Class=RULE` separated by `;`, RULE as ParseRoute
// reads it. Example: `App\Jobs\SendMail=go:10%;Other=php`. Keys are the class names as
// given, without a leading backslash; a class given twice (as the Mux compares names) is
// an error.
func ParseRoutes(s string) (map[string]int, error) {
	out := make(map[string]int)
	seen := make(map[string]bool)
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		class, spec, ok := strings.Cut(part, "=")
		class = strings.TrimPrefix(strings.TrimSpace(class), `\`)
		if !ok || class == "" {
			return nil, fmt.Errorf("route %q: want Class=go, Class=php or Class=go:N%%", part)
		}
		share, err := ParseRoute(spec)
		if err != nil {
			return nil, fmt.Errorf("route of %s: %w", class, err)
		}
		if seen[classKey(class)] {
			return nil, fmt.Errorf("route of %s given twice", class)
		}
		seen[classKey(class)] = true
		out[class] = share
	}
	return out, nil
}

// SetRoute sets the deployed default rule of class: the share (0..100 percent) of its jobs
// the Go handler performs, the rest going to the fallback (the PHP class). It applies only
// to a class with both a Go handler and a fallback; an override set with `goresque route`
// wins over it. Class names match as Handle's do. It panics for a share outside 0..100, a
// programming error, as Handle does.
func (m *Mux) SetRoute(class string, share int) {
	if share < 0 || share > 100 {
		panic(fmt.Sprintf("resque: Mux.SetRoute(%q, %d): share is a percentage, 0..100", class, share))
	}
	if m.routes == nil {
		m.routes = make(map[string]routeRule)
	}
	m.routes[classKey(class)] = routeRule{class: strings.TrimPrefix(class, `\`), share: share}
}

// Routes returns the default rules set with SetRoute, by class name as given.
func (m *Mux) Routes() map[string]int {
	out := make(map[string]int, len(m.routes))
	for _, r := range m.routes {
		out[r.class] = r.share
	}
	return out
}

// routeRule is one class's rule, with the class name as it was written.
type routeRule struct {
	class string
	share int
}

// shareOf returns the point (0..99) of job on the 0..100 scale of a rule: stable per job
// id, so a retry of a job (same id) stays on its side and every worker agrees; random for
// a job without id (Ruby- or goworker-pushed), which has nothing stable to hash.
func shareOf(id string) int {
	if id == "" {
		return rand.IntN(100)
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % 100)
}

// implementation names the side that performs job, ImplGo or ImplPHP, and routes the job
// there: Mux.Perform follows job.impl. A Handler that is not a *Mux cannot tell: its jobs
// count as ImplGo. When the class has both a Go handler and a fallback, its rule decides
// (the Redis override, else the Mux's default; none: the Go handler, as before routing).
func (w *Worker) implementation(job *Job) string {
	m, ok := w.cfg.Handler.(*Mux)
	if !ok {
		return ImplGo
	}
	k := classKey(job.Class)
	_, own := m.handlers[k]
	switch {
	case !own && m.fallback != nil:
		return ImplPHP
	case !own || m.fallback == nil:
		return ImplGo
	}
	share, ok := w.routes.override(k)
	if !ok {
		var r routeRule
		r, ok = m.routes[k]
		share = r.share
	}
	if !ok {
		return ImplGo
	}
	job.routed = true
	if shareOf(job.ID) < share {
		return ImplGo
	}
	return ImplPHP
}

// routeState follows goresque:routes:rev, the revision of the per-class routing rules
// (Keys.Routes). Every claim returns the revision (cycleScript reads it in the same MGET as
// the pause switch), so a change made with `goresque route` reaches each worker at its
// next claim without an extra Redis call per job; the rules themselves are read (one
// HGETALL) only when the revision changed.
type routeState struct {
	// mu is held while the rules are loaded: another slot that claimed a job under the new
	// revision waits for them, so no job claimed after a rollback runs under the old rules.
	mu       sync.Mutex
	rev      string
	loaded   bool
	failedAt time.Time // of the last failed load; retried at most once a second
	failing  bool      // the last load failed (logged once until one succeeds)
	warned   map[string]bool
	rules    atomic.Pointer[map[string]int] // Redis overrides by classKey
}

// override returns the Redis override of class key k.
func (r *routeState) override(k string) (int, bool) {
	m := r.rules.Load()
	if m == nil {
		return 0, false
	}
	share, ok := (*m)[k]
	return share, ok
}

// seen records the revision a claim returned (nil when the key does not exist) and, when
// it differs from the last one loaded (or nothing was loaded yet), reads the rules through
// conn before the job claimed in the same cycle is performed. A failed read keeps the last
// rules, is logged once, and is tried again at a claim a second later.
func (r *routeState) seen(v any, conn redis.Conn, w *Worker) {
	var rev string
	if b, ok := v.([]byte); ok {
		rev = string(b)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded && rev == r.rev {
		return
	}
	if r.failing && time.Since(r.failedAt) < time.Second {
		return
	}
	raw, err := redis.StringMap(conn.Do("HGETALL", w.keys.Routes()))
	if err != nil {
		if !r.failing {
			w.log.Error().Err(err).Str("key", w.keys.Routes()).Msg("routing rules not read; the last ones stay in force")
		}
		r.failing, r.failedAt = true, time.Now()
		return
	}
	r.failing = false
	rules := make(map[string]int, len(raw))
	for class, spec := range raw {
		share, err := ParseRoute(spec)
		if err != nil {
			r.warnOnce(w.log, "bad:"+class+"="+spec, func(e *zerolog.Event) {
				e.Str("class", class).Err(err).Msg("routing rule ignored (set it again with goresque route)")
			})
			continue
		}
		rules[classKey(class)] = share
	}
	r.rules.Store(&rules)
	r.rev, r.loaded = rev, true
	r.checkClasses(w, raw)
	w.log.Debug().Str("rev", rev).Int("rules", len(rules)).Msg("routing rules loaded")
}

// checkClasses warns once per class when a rule names a class that cannot be routed: one
// without a Go handler (every job runs as PHP) or without the PHP bridge (every job runs
// in Go). r.mu is held.
func (r *routeState) checkClasses(w *Worker, overrides map[string]string) {
	m, ok := w.cfg.Handler.(*Mux)
	if !ok {
		return
	}
	names := make([]string, 0, len(overrides)+len(m.routes))
	for class := range overrides {
		names = append(names, class)
	}
	for _, rr := range m.routes {
		names = append(names, rr.class)
	}
	sort.Strings(names)
	for _, class := range names {
		_, own := m.handlers[classKey(class)]
		switch {
		case !own:
			r.warnOnce(w.log, "nogo:"+classKey(class), func(e *zerolog.Event) {
				e.Str("class", class).Msg("a route names a class without a Go handler: its jobs all run as PHP")
			})
		case m.fallback == nil:
			r.warnOnce(w.log, "nophp:"+classKey(class), func(e *zerolog.Event) {
				e.Str("class", class).Msg("a route names a class but the PHP bridge is off: its jobs all run in Go")
			})
		}
	}
}

func (r *routeState) warnOnce(log zerolog.Logger, key string, msg func(*zerolog.Event)) {
	if r.warned == nil {
		r.warned = make(map[string]bool)
	}
	if r.warned[key] || len(r.warned) > 1000 {
		return
	}
	r.warned[key] = true
	msg(log.Warn())
}

// routeScript changes one class's override and bumps the revision, atomically, so no
// worker reads the new revision with the old rules.
//
//	KEYS[1] goresque:routes
//	KEYS[2] goresque:routes:rev
//	ARGV[1] the class as the Mux compares it (classKey: ASCII lower case, no leading backslash)
//	ARGV[2] the class name to store
//	ARGV[3] the rule ("go:25%"); "" removes the override (back to the deployed default)
//
// Fields naming the same class in another spelling are removed first, so one class has one
// rule. Redis Lua's string.lower folds ASCII letters only, as classKey does. Returns the new
// revision.
var routeScript = newScript(2, `
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local k = string.lower((string.gsub(f, '^\\', '')))
  if k == ARGV[1] then
    redis.call('HDEL', KEYS[1], f)
  end
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return redis.call('INCR', KEYS[2])
`)

// SetRoute overrides the rule of class in Redis for every worker: share (0..100) percent
// of its jobs go to the Go handler, the rest to the PHP class. 0 is the rollback: each
// worker applies it before the next job it claims.
func (c *Client) SetRoute(ctx context.Context, class string, share int) error {
	if share < 0 || share > 100 {
		return fmt.Errorf("resque: route %s: share %d is not a percentage", class, share)
	}
	return c.route(ctx, class, FormatRoute(share))
}

// ResetRoute removes the override of class: its workers go back to the deployed default
// (Mux.SetRoute, GORESQUE_ROUTE; none: the Go handler when there is one).
func (c *Client) ResetRoute(ctx context.Context, class string) error {
	return c.route(ctx, class, "")
}

func (c *Client) route(ctx context.Context, class, rule string) error {
	class = strings.TrimPrefix(class, `\`)
	if class == "" {
		return errors.New("resque: route: empty class name")
	}
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("resque: route %s: %w", class, err)
	}
	defer conn.Close()
	if _, err := routeScript.Do(ctxConn{conn, ctx}, c.keys.Routes(), c.keys.RoutesRev(), classKey(class), class, rule); err != nil {
		return fmt.Errorf("resque: route %s: %w", class, err)
	}
	return nil
}

// Routes returns the overrides in Redis, by class name as stored. A value that is not a
// rule is returned as -1.
func (c *Client) Routes(ctx context.Context) (map[string]int, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("resque: routes: %w", err)
	}
	defer conn.Close()
	raw, err := redis.StringMap(redis.DoContext(conn, ctx, "HGETALL", c.keys.Routes()))
	if err != nil {
		return nil, fmt.Errorf("resque: routes: %w", err)
	}
	out := make(map[string]int, len(raw))
	for class, spec := range raw {
		share, err := ParseRoute(spec)
		if err != nil {
			share = -1
		}
		out[class] = share
	}
	return out, nil
}

// withImplField adds "goresque_impl" (the side that ran a routed job) as the last
// top-level key of its failure record. A job of a class without a routing rule keeps the
// record php-resque writes. php-resque, Ruby resque-web and node-resque read the keys they
// know from a failure record and ignore this one.
func withImplField(record []byte, job *Job) []byte {
	if !job.routed || len(record) == 0 {
		return record
	}
	return append(record[:len(record)-1], `,"`+implKey+`":"`+job.impl+`"}`...)
}
