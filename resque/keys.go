package resque

import "strings"

// DefaultNamespace is php-resque's key prefix (Resque_Redis::$defaultNamespace).
const DefaultNamespace = "resque:"

// Keys builds every Redis key goresque reads or writes. It is the only place that formats a
// key: a reviewer checks the wire contract here and in keys_test.go, which pins each method
// to the literal php-resque writes.
type Keys struct {
	ns string
}

// NewKeys returns the keys for namespace ns. As in php-resque's Resque_Redis::prefix, a
// missing trailing colon is added, and the empty namespace means "resque:" (golden 28:
// PREFIX=myapp gives "myapp:queues").
func NewKeys(ns string) Keys {
	if ns == "" {
		ns = DefaultNamespace
	}
	if !strings.HasSuffix(ns, ":") {
		ns += ":"
	}
	return Keys{ns: ns}
}

// Namespace returns the prefix, always ending in ":".
func (k Keys) Namespace() string { return k.ns }

// Queues is the set of known queue names (SADD on every enqueue).
func (k Keys) Queues() string { return k.ns + "queues" }

// Queue is the list holding the payloads of queue q (RPUSH by pushers, LPOP by workers).
func (k Keys) Queue(q string) string { return k.ns + "queue:" + q }

// Workers is the set of registered worker ids.
func (k Keys) Workers() string { return k.ns + "workers" }

// Worker is the "working on" record {"queue","run_at","payload"} of worker id.
func (k Keys) Worker(id string) string { return k.ns + "worker:" + id }

// WorkerStarted holds the date worker id registered.
func (k Keys) WorkerStarted(id string) string { return k.ns + "worker:" + id + ":started" }

// Stat is a global counter: name is "processed" or "failed".
func (k Keys) Stat(name string) string { return k.ns + "stat:" + name }

// WorkerStat is a per-worker counter, deleted when the worker unregisters.
func (k Keys) WorkerStat(name, id string) string { return k.ns + "stat:" + name + ":" + id }

// Failed is the list of failure records.
func (k Keys) Failed() string { return k.ns + "failed" }

// JobStatus is the status packet of a tracked job. resque/php-resque v1.3.6 puts a
// non-empty payload prefix in front of the id (Resque_Job_Status: "job:" . prefix . "_" . id).
func (k Keys) JobStatus(id, prefix string) string {
	if prefix != "" {
		return k.ns + "job:" + prefix + "_" + id + ":status"
	}
	return k.ns + "job:" + id + ":status"
}

// JobPID holds the pid of the process performing job id (resque/php-resque v1.3.6,
// Resque_Job_PID). It never carries the status prefix.
func (k Keys) JobPID(id string) string { return k.ns + "job:" + id + ":pid" }

// Heartbeats is Ruby resque 2.x's hash of worker id → ISO 8601 time of the last beat;
// resque-web and Ruby workers read it to prune dead workers on any host.
func (k Keys) Heartbeats() string { return k.ns + "workers:heartbeat" }

// PruneLock is Ruby resque's lock that lets one worker at a time prune dead workers
// (resque/resque#1594), held with SET NX EX.
func (k Keys) PruneLock() string { return k.ns + "pruning_dead_workers_in_progress" }

// InFlight is goresque's own hash of worker id → "working on" record. It duplicates
// worker:<id> so that a job claimed by a goresque worker that died survives even when a
// php-resque worker prunes that worker first and deletes worker:<id> without a trace.
func (k Keys) InFlight() string { return k.ns + "goresque:inflight" }

// PIDNamespaces is goresque's own hash of worker id → the pid namespace of the process
// that registered it ("pid:[4026531836]", /proc/self/ns/pid). Same host name and pid in
// another namespace is another live process (containers with host networking), not a
// dead worker of this one; the hash lets the prune tell the two apart.
func (k Keys) PIDNamespaces() string { return k.ns + "goresque:pidns" }

// NodePing is node-resque's liveness key of worker name (its id without the queues):
// {"time":<unix seconds>,"name":..,"queues":..}, written every few seconds by a live worker.
func (k Keys) NodePing(name string) string { return k.ns + "worker:ping:" + name }

// DelayedSchedule is the sorted set of timestamps that have delayed jobs.
func (k Keys) DelayedSchedule() string { return k.ns + "delayed_queue_schedule" }

// Delayed is the list of jobs due at unix time ts.
func (k Keys) Delayed(ts string) string { return k.ns + "delayed:" + ts }

// DelayedTimestamps is Ruby resque-scheduler's set of the delayed:<ts> keys holding a given
// delayed item (the item's exact JSON is part of the key). Ruby's and node-resque's tools
// find and remove a delayed job through it; goresque writes and maintains it beside
// php-resque-scheduler's keys, which do not have it.
func (k Keys) DelayedTimestamps(item string) string { return k.ns + "timestamps:" + item }

// Routes is goresque's hash of PHP class name → routing rule (which share of a ported
// class's jobs its Go handler takes; the rest run as the PHP class), set with `goresque
// route` and read by every worker without a redeploy.
func (k Keys) Routes() string { return k.ns + "goresque:routes" }

// RoutesRev is a counter bumped at every change of Routes. cycleScript returns it with each
// claim (in the same MGET as pause-all-workers: no extra call), so a worker re-reads the
// rules as soon as they change, at the cadence of its claims.
func (k Keys) RoutesRev() string { return k.ns + "goresque:routes:rev" }

// PauseAllWorkers is Ruby resque's switch (Resque::Worker#paused?): while it holds "true",
// no worker takes a job.
func (k Keys) PauseAllWorkers() string { return k.ns + "pause-all-workers" }

// Classes is goresque's sorted set of the classes with per-class statistics, scored by the
// unix time a worker last performed one; it is trimmed to the configured limit, least
// recently seen first. Members are the names PHP looks classes up by: lower-case, without
// a leading backslash (a hash's "name" field keeps a spelling to show).
func (k Keys) Classes() string { return k.ns + "goresque:classes" }

// Class is goresque's hash of one class's statistics (class as in Classes): "name", a
// spelling of the class to show, and per implementation ("go", "php") <impl>:jobs,
// <impl>:failed, <impl>:us (total µs), <impl>:last (unix time) and <impl>:b<n>, the
// duration histogram (see durationBucket). It expires when no worker touches it for 30
// days.
func (k Keys) Class(class string) string { return k.ns + "goresque:class:" + class }

// Handlers is goresque's hash of worker id → JSON list of the classes that worker's Mux has
// Go handlers for, written at registration and removed with the worker: a class is ported
// when a registered worker lists it.
func (k Keys) Handlers() string { return k.ns + "goresque:handlers" }
