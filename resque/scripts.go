package resque

import "github.com/gomodule/redigo/redis"

// The Lua scripts below are goresque's only multi-command atomic steps. Each runs inside
// Redis as one command, so a worker killed at any instant leaves every job either in its
// queue, or in a recoverable in-flight record, or finished. Key names always arrive as
// KEYS, built by Keys.

// cycleScript is one turn of a worker's loop in one atomic step and one round trip: it
// records the outcome of the job just performed, then takes the next job and starts it.
//
// Finishing (ARGV[2] not ""): the final status, the failure record, the counters and the
// removal of the in-flight record, in php-resque's order (status, failed, stat:failed,
// stat:processed, DEL worker:<id>). It applies only while the in-flight record is still
// the one the job was claimed with, so replaying it after a dropped connection, or after a
// pruner already settled the job, changes nothing.
//
// Claiming (ARGV[9] not ""): the first job of the queues in priority order is taken and
// recorded as in flight in the same step: php-resque's LPOP and SET worker:<id> without the
// gap in which a crash loses the job (resque/resque#16, #1047). The record is also kept in
// the goresque:inflight hash, which php-resque's prune does not know and cannot delete.
//
// Starting: when the payload ends the way Resque::enqueue writes it, with
// ,"id":"<32 hex>"[,"prefix":"<p>"],"queue_time":<number>} (read from the end, so nothing in
// args can be mistaken for it, and without decoding the JSON), its status becomes "running"
// (only if the status key exists, as Resque_Job_Status::update does) and, in the v1.3.6
// dialect, job:<id>:pid is set. The job keys are assembled from ARGV[11], Keys.jobPrefix(),
// exactly as Keys.JobStatus and Keys.JobPID build them. Any other payload (Ruby's without
// id, a prefix with escapes, another producer's spacing) the caller starts itself
// (startScript), after decoding it.
//
//	KEYS[1] worker:<id>   KEYS[2] goresque:inflight   KEYS[3] queues (the set)
//	KEYS[4] stat:processed   KEYS[5] stat:processed:<id>   KEYS[6] stat:failed
//	KEYS[7] stat:failed:<id>   KEYS[8] failed   KEYS[9] job:<id>:status of the finished job
//	KEYS[10] job:<id>:pid of the finished job   KEYS[11..] queue:<q> in priority order
//	ARGV[1] worker id
//	ARGV[2] SHA1 of the finished job's in-flight record; "" when nothing is finished
//	ARGV[3] failure record, "" when the job did not fail
//	ARGV[4] final status packet, or its head up to `"started":` when ARGV[6] is "1";
//	        "" when the finished job has no id
//	ARGV[5] packet tail after the started value   ARGV[6] "1": copy "started" from the
//	        current packet, as v1.3.6 does   ARGV[7] status TTL   ARGV[8] "1": DEL KEYS[10]
//	ARGV[9] "" to claim nothing, else the record tail `,"run_at":"<date>","payload":`
//	ARGV[10] "" or, for QUEUE=*, the number n of queues the caller knows in the set
//	ARGV[11] the job key prefix, "<ns>job:"   ARGV[12] pid for job:<id>:pid, "" for none
//	ARGV[13] running packet (head)   ARGV[14] its tail   ARGV[15] "1": splice "started"
//	ARGV[16..] the record head of each queue `{"queue":"<q>"`; for QUEUE=* then the n
//	        queue names, to check that the caller's list is still the whole set
//
// Returns {finished, claim, payload, started}: finished is 1 when the outcome was recorded,
// 0 when not (nothing to finish, or the record was not the expected one); claim is the
// 0-based index of the queue the job came from, -3 when every queue was empty or nothing
// was to be claimed, -2 when the worker already has a job in flight (never overwrite one),
// -1 when the caller's QUEUE=* list is stale (payload is then the set's members); started
// is 1 when the job was started here.
var cycleScript = redis.NewScript(-1, `
local r = {0, -3, false, 0}
if ARGV[2] ~= '' then
  local cur = redis.call('HGET', KEYS[2], ARGV[1])
  if cur and redis.sha1hex(cur) == ARGV[2] then
    if ARGV[4] ~= '' then
      local old = redis.call('GET', KEYS[9])
      if old then
        local packet = ARGV[4]
        if ARGV[6] == '1' then
          packet = packet .. (string.match(old, '"started":(%-?[%w%.%+%-]+)') or 'null') .. ARGV[5]
        end
        redis.call('SET', KEYS[9], packet)
        redis.call('EXPIRE', KEYS[9], ARGV[7])
      end
    end
    if ARGV[3] ~= '' then
      redis.call('RPUSH', KEYS[8], ARGV[3])
      redis.call('INCRBY', KEYS[6], 1)
      redis.call('INCRBY', KEYS[7], 1)
    end
    if ARGV[8] == '1' then
      redis.call('DEL', KEYS[10])
    end
    redis.call('INCRBY', KEYS[4], 1)
    redis.call('INCRBY', KEYS[5], 1)
    redis.call('DEL', KEYS[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
    r[1] = 1
  end
end
if ARGV[9] == '' then
  return r
end
local nq = #KEYS - 10
if ARGV[10] ~= '' then
  local stale = redis.call('SCARD', KEYS[3]) ~= nq
  for i = 16 + nq, 15 + 2 * nq do
    if stale then break end
    stale = redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 0
  end
  if stale then
    r[2] = -1
    r[3] = redis.call('SMEMBERS', KEYS[3])
    return r
  end
end
-- Never overwrite a job in flight. Just finished: the field was deleted above.
if r[1] == 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  r[2] = -2
  return r
end
for i = 1, nq do
  local p = redis.call('LPOP', KEYS[10 + i])
  if p then
    local rec = ARGV[15 + i] .. ARGV[9] .. p .. '}'
    redis.call('SET', KEYS[1], rec)
    redis.call('HSET', KEYS[2], ARGV[1], rec)
    r[2] = i - 1
    r[3] = p
    local tail = string.sub(p, -300)
    local id, prefix = string.match(tail, ',"id":"(%x+)","prefix":"([^"\\]*)","queue_time":[-%d.eE+]+}$')
    if not id then
      id = string.match(tail, ',"id":"(%x+)","queue_time":[-%d.eE+]+}$')
      prefix = ''
    end
    if id and #id == 32 then
      if prefix ~= '' then
        prefix = prefix .. '_'
      end
      if ARGV[12] ~= '' then
        redis.call('SET', ARGV[11] .. id .. ':pid', ARGV[12])
      end
      local sk = ARGV[11] .. prefix .. id .. ':status'
      local old = redis.call('GET', sk)
      if old then
        local packet = ARGV[13]
        if ARGV[15] == '1' then
          packet = packet .. (string.match(old, '"started":(%-?[%w%.%+%-]+)') or 'null') .. ARGV[14]
        end
        redis.call('SET', sk, packet)
      end
      r[4] = 1
    end
    return r
  end
end
return r
`)

// startScript starts a job cycleScript could not start (a payload that does not end the
// way Resque::enqueue writes it): it marks the job as running: the status packet becomes "running"
// (php-resque's Resque_Job_Status::update(STATUS_RUNNING), which writes only when the key
// exists: untracked jobs get no status) and, in the v1.3.6 dialect, job:<id>:pid is set.
//
//	KEYS[1] job:<id>:status
//	KEYS[2] job:<id>:pid
//	ARGV[1] the packet, or its head up to `"started":` when ARGV[3] is "1"
//	ARGV[2] the packet tail after the started value (ARGV[3] == "1")
//	ARGV[3] "1": copy "started" from the current packet, as v1.3.6 does
//	ARGV[4] pid to store in KEYS[2], or "" for none
//
// Returns the previous packet, or false when the job is not tracked.
var startScript = redis.NewScript(2, `
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], ARGV[4])
end
local old = redis.call('GET', KEYS[1])
if not old then
  return false
end
local packet = ARGV[1]
if ARGV[3] == '1' then
  local s = string.match(old, '"started":(%-?[%w%.%+%-]+)') or 'null'
  packet = ARGV[1] .. s .. ARGV[2]
end
redis.call('SET', KEYS[1], packet)
return old
`)

// pruneScript unregisters a dead worker and settles its in-flight job, atomically and at
// most once: the job goes to `failed` (ARGV[3]) or back to the head of its queue
// (ARGV[4]), and its status packet, if it has one, becomes failed or waiting again; only
// while the in-flight record still has the SHA1 the pruner read. Then the worker's keys go
// as in php-resque's unregisterWorker.
//
//	KEYS[1] workers   KEYS[2] worker:<id>   KEYS[3] worker:<id>:started
//	KEYS[4] stat:processed:<id>   KEYS[5] stat:failed:<id>   KEYS[6] workers:heartbeat
//	KEYS[7] goresque:inflight   KEYS[8] failed   KEYS[9] stat:failed
//	KEYS[10] stat:processed   KEYS[11] queue:<q> of the in-flight job (requeue)
//	KEYS[12] job:<id>:status of the in-flight job
//	ARGV[1] worker id   ARGV[2] SHA1 of the in-flight record, "" when none was found
//	ARGV[3] failure record or ""   ARGV[4] payload to requeue or ""
//	ARGV[5] status packet (or its head, see cycleScript), "" for none   ARGV[6] its tail
//	ARGV[7] "1": splice "started" from the current packet   ARGV[8] TTL, "" for none
//
// Returns 1 when the worker was pruned, 0 when its in-flight record changed meanwhile
// (someone else pruned it, or it is alive after all).
var pruneScript = redis.NewScript(12, `
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
  local old = redis.call('GET', KEYS[12])
  if old then
    local packet = ARGV[5]
    if ARGV[7] == '1' then
      packet = packet .. (string.match(old, '"started":(%-?[%w%.%+%-]+)') or 'null') .. ARGV[6]
    end
    redis.call('SET', KEYS[12], packet)
    if ARGV[8] ~= '' then
      redis.call('EXPIRE', KEYS[12], ARGV[8])
    end
  end
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
