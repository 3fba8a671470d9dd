package resque

import "sync"

// routeState follows goresque:routes:rev, the revision of the per-class routing rules
// (Keys.Routes). Every claim returns the revision (cycleScript reads it in the same MGET as
// the pause switch), so a change made with `goresque route` reaches each worker at its
// next claim without an extra Redis call per job.
type routeState struct {
	mu       sync.Mutex
	rev      string
	changed  bool
	onChange func(rev string) // called, outside mu, when the revision differs from the last seen
}

// seen records the revision a claim returned (nil when the key does not exist).
func (r *routeState) seen(v any) {
	var rev string
	if b, ok := v.([]byte); ok {
		rev = string(b)
	}
	r.mu.Lock()
	if r.changed && rev == r.rev {
		r.mu.Unlock()
		return
	}
	r.rev, r.changed = rev, true
	f := r.onChange
	r.mu.Unlock()
	if f != nil {
		f(rev)
	}
}
