package resque

import "github.com/gomodule/redigo/redis"

// The Lua scripts below are goresque's only multi-command atomic steps. Each runs inside
// Redis as one command, so a worker killed at any instant leaves every job either in its
// queue, or in a recoverable in-flight record, or finished. Every key a script touches
// arrives in KEYS, built by Keys; none is assembled inside Lua.
//
// Each script's KEYS and ARGV are documented one per line, and the Go struct right below
// it is the only code that builds them (the shape of asynq's internal/rdb/rdb.go).

// luaPrelude is shared by every script.
//
// set_status is php-resque's Resque_Job_Status::update: it writes only when the status key
// exists (an untracked job gets no status). v1.3.6 keeps the "started" time of the current
// packet, so the packet arrives in two parts, head (up to `"started":`) and tail, and the
// value is copied in between (splice "1"); php-resque 1.x writes a whole packet (splice "0").
// ttl "" keeps the key; else it expires, as php-resque expires a finished job's status.
// It returns the previous packet, or false when the job is not tracked.
const luaPrelude = `
local function set_status(key, head, tail, splice, ttl)
  local old = redis.call('GET', key)
  if not old then
    return false
  end
  local packet = head
  if splice == '1' then
    packet = head .. (string.match(old, '"started":(%-?[%w%.%+%-]+)') or 'null') .. tail
  end
  redis.call('SET', key, packet)
  if ttl ~= '' then
    redis.call('EXPIRE', key, ttl)
  end
  return old
end
`

func newScript(keyCount int, body string) *redis.Script {
	return redis.NewScript(keyCount, luaPrelude+body)
}

// cycleScript is one turn of a worker's loop in one atomic step and one round trip: it
// records the outcome of the job just performed, then takes the next job.
//
// Finishing (ARGV[2] not ""): the removal of the in-flight record (made last, or replaced
// by the next claim's), then the job's start
// when it is carried here (a job that finished within startDelay: startScript's writes,
// applied just before the outcome's, so the set of writes is php-resque's), then the final status,
// the failure record and the counters, in php-resque's order (status, failed, stat:failed,
// stat:processed, DEL worker:<id>). It applies only while the in-flight record is still
// the one this claim wrote (its SHA1; the record carries a claim token, so two identical
// payloads claimed in the same second have different records), so replaying it after a
// dropped connection, or after a pruner already settled the job, changes nothing. The
// guard goes first and every later write is protected (pcall): Redis does not roll back a
// script that fails part-way, and a write refused after the guard (a counter holding
// "abc", a key of the wrong type) must not make a replay write the rest twice. The refused
// writes are returned, named by key, for the caller to log.
//
// Retrying (ARGV[9] not ""): a failed job with attempts left (see Retry) is not recorded
// in `failed` and does not count in stat:failed; it goes to the delayed queue as
// ResqueScheduler::enqueueAt writes it (RPUSH delayed:<ts>, SADD timestamps:<item>, ZADD
// delayed_queue_schedule), in the same step that removes the in-flight record, so a worker
// that dies between the failure and the retry being scheduled loses nothing. The types of
// the two delayed keys are checked first; when one is broken the job is recorded as failed
// (ARGV[3]) instead, never dropped. stat:processed counts every attempt, as php-resque
// counts every job performed.
//
// Claiming (ARGV[11] not ""): the first job of the queues in priority order is taken and
// recorded as in flight in the same step: php-resque's LPOP and SET worker:<id> without the
// gap in which a crash loses the job (resque/resque#16, #1047). The record is also kept in
// the goresque:inflight hash, which php-resque's prune does not know and cannot delete,
// with the claim token. A queue key of the wrong type is skipped (and reported), so one
// broken key does not starve the other queues. Starting the job (status "running", v1.3.6's
// pid key) is startScript's, sent by the caller once it has decoded the payload and knows
// the job's keys, or carried into the finishing call of a job that finished first (one
// script call per job instead of two). The type of goresque:inflight is checked (HGET, HEXISTS) before the LPOP,
// so the job cannot be popped and then fail to be recorded.
//
//	KEYS[1]  worker:<id>
//	KEYS[2]  goresque:inflight
//	KEYS[3]  queues (the set)
//	KEYS[4]  stat:processed
//	KEYS[5]  stat:processed:<id>
//	KEYS[6]  stat:failed
//	KEYS[7]  stat:failed:<id>
//	KEYS[8]  failed
//	KEYS[9]  job:<id>:status of the finished job (a placeholder when none)
//	KEYS[10] job:<id>:pid of the finished job (a placeholder when none)
//	KEYS[11] delayed_queue_schedule
//	KEYS[12] delayed:<ts> of the retry (a placeholder when none)
//	KEYS[13] timestamps:<item> of the retry (a placeholder when none)
//	KEYS[14..] queue:<q> of each queue to claim from, in priority order
//	KEYS[last-1] pause-all-workers (Ruby resque's switch: nothing is claimed while it says "true")
//	KEYS[last] goresque:routes:rev (returned, for the caller to reload the routing rules when it changes)
//
//	ARGV[1]  worker id
//	ARGV[2]  SHA1 of the finished job's in-flight record; "" when nothing is finished
//	ARGV[3]  failure record, "" when the job did not fail
//	ARGV[4]  final status packet, or its head (see set_status); "" when the job has no id
//	ARGV[5]  status packet tail
//	ARGV[6]  "1": splice "started" from the current packet
//	ARGV[7]  status TTL
//	ARGV[8]  "1": DEL KEYS[10]
//	ARGV[9]  the retry's delayed item, "" when the job is not retried
//	ARGV[10] the retry's timestamp <ts>
//	ARGV[11] "" to claim nothing, else the record tail `,"run_at":"<date>","payload":`
//	ARGV[12] "" or, for QUEUE=*, the size of the set the caller's list was read from
//	ARGV[13] the claim token, written into the goresque:inflight record only
//	ARGV[14..13+n] the record head `{"queue":"<q>"` of each queue of KEYS[14..]
//	ARGV[last-3..last] the finished job's start, when the caller carries it here instead of
//	         sending startScript (see below): startScript's ARGV[1..4]; ARGV[last-3] is ""
//	         when there is none. Counted from the end, so the claim's ARGV keep their places.
//
// Returns {finished, claim, payload, refused, routesRev}: finished is 1 when the outcome
// was recorded, 0 when not (nothing to finish, or the record was not the expected one);
// claim is the 0-based index of the queue the job came from, -3 when every queue was empty
// or nothing was to be claimed, -4 when workers are paused (Ruby's pause-all-workers), -2
// when the worker already has a job in flight (never overwrite one), -1 when the set's size
// is not ARGV[12] (QUEUE=*: the caller's list is stale and is read again, see wildcard.go);
// refused lists the writes Redis refused and the queues skipped, as "<key>: <error>";
// routesRev is the value of goresque:routes:rev read with the pause switch on a claim (nil
// when none or no claim).
var cycleScript = newScript(-1, `
local r = {0, -3, false, {}, false}
local function try(key, ...)
  local ok, e = pcall(...)
  if not ok then
    table.insert(r[4], key .. ': ' .. (type(e) == 'table' and e.err or tostring(e)))
  end
end
-- write is try for one Redis command (cmd, key, ...): redis.pcall hands back the error,
-- cheaper than a Lua pcall around redis.call.
local function write(cmd, key, ...)
  local v = redis.pcall(cmd, key, ...)
  if type(v) == 'table' and v.err then
    table.insert(r[4], key .. ': ' .. v.err)
  end
end
-- The finished job's in-flight field is deleted last (settle), unless a claim overwrites
-- it: inside one script no reader sees the difference, and it saves Redis a call per job.
local unsettled = false
local function settle()
  if unsettled then
    redis.call('HDEL', KEYS[2], ARGV[1])
    unsettled = false
  end
  return r
end
if ARGV[2] ~= '' then
  local cur = redis.call('HGET', KEYS[2], ARGV[1])
  if cur and redis.sha1hex(cur) == ARGV[2] then
    unsettled = true
    r[1] = 1
    local tracked = true
    local st = #ARGV - 4
    if ARGV[st + 1] ~= '' then
      if ARGV[st + 4] ~= '' then
        write('SET', KEYS[10], ARGV[st + 4])
      end
      local ok, old = pcall(set_status, KEYS[9], ARGV[st + 1], ARGV[st + 2], ARGV[st + 3], '')
      if not ok then
        table.insert(r[4], KEYS[9] .. ': ' .. (type(old) == 'table' and old.err or tostring(old)))
      end
      tracked = not ok or old ~= false
    end
    if ARGV[4] ~= '' and tracked then
      try(KEYS[9], set_status, KEYS[9], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
    end
    local failure = ARGV[3]
    if ARGV[9] ~= '' then
      local lt = redis.call('TYPE', KEYS[12]).ok
      local zt = redis.call('TYPE', KEYS[11]).ok
      if (lt == 'none' or lt == 'list') and (zt == 'none' or zt == 'zset') then
        failure = ''
        redis.call('RPUSH', KEYS[12], ARGV[9])
        write('SADD', KEYS[13], KEYS[12])
        redis.call('ZADD', KEYS[11], ARGV[10], ARGV[10])
      else
        table.insert(r[4], KEYS[12] .. ': not a list, or ' .. KEYS[11] .. ' not a sorted set: the job is recorded as failed instead of retried')
      end
    end
    if failure ~= '' then
      write('RPUSH', KEYS[8], failure)
      write('INCRBY', KEYS[6], 1)
      write('INCRBY', KEYS[7], 1)
    end
    if ARGV[8] == '1' then
      write('DEL', KEYS[10])
    end
    write('INCRBY', KEYS[4], 1)
    write('INCRBY', KEYS[5], 1)
    write('DEL', KEYS[1])
  end
end
if ARGV[11] == '' then
  return settle()
end
local nq = #KEYS - 15
if ARGV[12] ~= '' then
  settle() -- SCARD below raises when the set has the wrong type: a replay must not finish twice
  if redis.call('SCARD', KEYS[3]) ~= tonumber(ARGV[12]) then
    r[2] = -1
    return settle()
  end
end
-- Never overwrite a job in flight. Just finished: the field is the finished job's, replaced
-- below or deleted by settle.
if r[1] == 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  r[2] = -2
  return r
end
local switches = redis.call('MGET', KEYS[#KEYS - 1], KEYS[#KEYS])
r[5] = switches[2]
local pause = switches[1]
if pause and string.lower(string.match(pause, '^%s*(.-)%s*$')) == 'true' then
  r[2] = -4
  return settle()
end
for i = 1, nq do
  local p = redis.pcall('LPOP', KEYS[13 + i])
  if type(p) == 'table' and p.err then
    if not string.find(p.err, 'WRONGTYPE', 1, true) then
      settle()
      return p
    end
    table.insert(r[4], KEYS[13 + i] .. ': ' .. p.err)
  elseif p then
    local head = ARGV[13 + i]
    redis.call('SET', KEYS[1], head .. ARGV[11] .. p .. '}')
    redis.call('HSET', KEYS[2], ARGV[1], head .. ',"claim":"' .. ARGV[13] .. '"' .. ARGV[11] .. p .. '}')
    unsettled = false
    r[2] = i - 1
    r[3] = p
    return r
  end
end
return settle()
`)

// cycleReplyLen is the number of elements of cycleScript's reply.
const cycleReplyLen = 5

// cycleArgs are cycleScript's KEYS and ARGV. The slot keeps one and changes only what
// changes between calls; appendTo writes them in the script's order.
type cycleArgs struct {
	fixed [8]any // KEYS[1..8], the slot's keys, built once (initKeys)
	sched string // KEYS[11], delayed_queue_schedule
	id    string // ARGV[1]

	fin *outcome // KEYS[9..10], ARGV[2..8]; nil when nothing is finished

	claim      bool
	recordTail string   // ARGV[11]
	token      string   // ARGV[13]
	queueKeys  []any    // KEYS[14..]
	pauseKey   string   // KEYS[last-1]
	routesRev  string   // KEYS[last]
	heads      []string // ARGV[14..13+n]
	card       string   // ARGV[12]; for QUEUE=* only
}

// inflightRecord is the goresque:inflight record cycleScript writes for a claim: the
// "working on" record with the claim token after the queue. Its SHA1 guards the finish.
func (a *cycleArgs) inflightRecord(queue int, payload []byte) []byte {
	head := a.heads[queue]
	rec := make([]byte, 0, len(head)+len(a.token)+len(a.recordTail)+len(payload)+12)
	rec = append(rec, head...)
	rec = append(rec, `,"claim":"`...)
	rec = append(rec, a.token...)
	rec = append(rec, '"')
	rec = append(rec, a.recordTail...)
	rec = append(rec, payload...)
	return append(rec, '}')
}

// outcome is what finishing a job writes: KEYS[9..10], KEYS[12..13] and ARGV[2..10] of
// cycleScript.
type outcome struct {
	statusKey, pidKey  string // KEYS[9], KEYS[10]
	delayedKey, tsKey  string // KEYS[12], KEYS[13]; "" when not retried
	retryItem, retryAt string // ARGV[9], ARGV[10]
	sha                string // ARGV[2]
	failure            string // ARGV[3]
	head, tail         string // ARGV[4], ARGV[5]
	splice             string // ARGV[6]
	delPID             string // ARGV[8]
	// start is the job's start, carried in the finishing call (ARGV[last-3..last]); nil
	// when startScript was sent for it, or it has none.
	start *startArgs
}

var statusTTLArg = itoa(statusTTL)

// noJobKeys are KEYS[9..10] when no job is finished: never touched, but KEYS keeps its
// shape.
var noJobKeys = [2]any{"-", "-"}

// evalshaTo appends cycleScript's call as EVALSHA's arguments (the script's SHA1, then what
// appendTo writes), for conn.Send("EVALSHA", ...): redigo's Script.SendHash would copy the
// arguments into a new slice on every call, for every job.
func (a *cycleArgs) evalshaTo(buf []any) []any {
	return a.appendTo(append(buf, cycleScript.Hash()))
}

func (a *cycleArgs) appendTo(buf []any) []any {
	nq := 0
	if a.claim {
		nq = len(a.queueKeys)
	}
	buf = append(buf, 15+nq)
	buf = append(buf, a.fixed[:]...)
	if a.fin != nil {
		buf = append(buf, a.fin.statusKey, a.fin.pidKey)
	} else {
		buf = append(buf, noJobKeys[:]...)
	}
	buf = append(buf, a.sched)
	if f := a.fin; f != nil && f.retryItem != "" {
		buf = append(buf, f.delayedKey, f.tsKey)
	} else {
		buf = append(buf, noJobKeys[:]...)
	}
	if a.claim {
		buf = append(buf, a.queueKeys...)
	}
	buf = append(buf, a.pauseKey, a.routesRev)
	buf = append(buf, a.id)
	if f := a.fin; f != nil {
		buf = append(buf, f.sha, f.failure, f.head, f.tail, f.splice, statusTTLArg, f.delPID, f.retryItem, f.retryAt)
	} else {
		buf = append(buf, "", "", "", "", "0", statusTTLArg, "0", "", "")
	}
	if !a.claim {
		buf = append(buf, "", "", "")
	} else {
		buf = append(buf, a.recordTail, a.card, a.token)
		for _, h := range a.heads {
			buf = append(buf, h)
		}
	}
	if f := a.fin; f != nil && f.start != nil {
		return append(buf, f.start.head, f.start.tail, f.start.splice, f.start.pid)
	}
	return append(buf, "", "", "0", "")
}

// startScript starts a job the slot has just claimed: the status packet becomes "running"
// (php-resque's Resque_Job_Status::update(STATUS_RUNNING), which writes only when the key
// exists: untracked jobs get no status) and, in the v1.3.6 dialect, job:<id>:pid is set.
//
//	KEYS[1] job:<id>:status
//	KEYS[2] job:<id>:pid
//
//	ARGV[1] the running packet, or its head (see set_status)
//	ARGV[2] the packet tail
//	ARGV[3] "1": splice "started" from the current packet
//	ARGV[4] pid to store in KEYS[2], or "" for none
//
// Returns the previous packet, or false when the job is not tracked.
var startScript = newScript(2, `
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], ARGV[4])
end
return set_status(KEYS[1], ARGV[1], ARGV[2], ARGV[3], '')
`)

// startArgs are startScript's KEYS and ARGV.
type startArgs struct {
	statusKey, pidKey string // KEYS[1], KEYS[2]
	head, tail        string // ARGV[1], ARGV[2]
	splice            string // ARGV[3]
	pid               string // ARGV[4]
}

// evalsha is startScript's call as EVALSHA's arguments: the SHA1, the key count, KEYS and
// ARGV (sent with conn.Send, as cycleArgs.evalshaTo).
func (a *startArgs) evalsha() []any {
	return []any{startScript.Hash(), 2, a.statusKey, a.pidKey, a.head, a.tail, a.splice, a.pid}
}

// pruneScript unregisters a dead worker and settles its in-flight job, atomically and at
// most once: the job goes to `failed` (ARGV[3]) or back to the head of its queue
// (ARGV[4]), and its status packet, if it has one, becomes failed or waiting again; only
// while the in-flight record still has the SHA1 the pruner read. Then the worker's keys go
// as in php-resque's unregisterWorker.
//
//	KEYS[1]  workers
//	KEYS[2]  worker:<id>
//	KEYS[3]  worker:<id>:started
//	KEYS[4]  stat:processed:<id>
//	KEYS[5]  stat:failed:<id>
//	KEYS[6]  workers:heartbeat
//	KEYS[7]  goresque:inflight
//	KEYS[8]  failed
//	KEYS[9]  stat:failed
//	KEYS[10] stat:processed
//	KEYS[11] queue:<q> of the in-flight job (requeue)
//	KEYS[12] job:<id>:status of the in-flight job
//
//	ARGV[1] worker id
//	ARGV[2] SHA1 of the in-flight record, "" when none was found
//	ARGV[3] failure record or ""
//	ARGV[4] payload to requeue or ""
//	ARGV[5] status packet (or its head, see set_status), "" for none
//	ARGV[6] its tail
//	ARGV[7] "1": splice "started" from the current packet
//	ARGV[8] TTL, "" for none
//
// Returns 1 when the worker was pruned, 0 when its in-flight record changed meanwhile
// (someone else pruned it, or it is alive after all). registry.go's pruneOne builds the
// arguments.
var pruneScript = newScript(12, `
local cur = redis.call('HGET', KEYS[7], ARGV[1])
if not cur then
  cur = redis.call('GET', KEYS[2])
end
if ARGV[2] == '' then
  if cur then return 0 end
elseif not cur or redis.sha1hex(cur) ~= ARGV[2] then
  return 0
end
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[8], ARGV[3])
  redis.call('INCRBY', KEYS[9], 1)
  redis.call('INCRBY', KEYS[10], 1)
end
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[11], ARGV[4])
end
if ARGV[5] ~= '' then
  set_status(KEYS[12], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[3])
redis.call('DEL', KEYS[4])
redis.call('DEL', KEYS[5])
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('HDEL', KEYS[7], ARGV[1])
return 1
`)

// allScripts are loaded on every new connection so that pipelined EVALSHA never meets
// NOSCRIPT, and again after a NOSCRIPT reply (Redis restarted and lost its script cache).
var allScripts = []*redis.Script{cycleScript, startScript, pruneScript}

func loadScripts(conn redis.Conn) error {
	for _, s := range allScripts {
		if err := s.Load(conn); err != nil {
			return err
		}
	}
	return nil
}
