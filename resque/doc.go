// Package resque is a php-resque wire-compatible worker and enqueuer: Go handlers perform
// the jobs PHP code pushes, by PHP class name, and PHP workers, resque-web and PHP tools keep
// reading and writing the same Redis keys side by side with it.
//
// # Workers
//
// A [Worker] takes jobs from its [Config.Queues], highest priority first, and performs them
// with a [Handler], the way net/http serves requests with one: a [Mux] routes by class name
// as PHP resolves it (case-insensitively, with or without a leading backslash) and may fall
// back to another Handler for classes it does not know (goresque's command line falls back
// to its PHP bridge, package compat). [NewWorker] checks a Config; [Worker.Run] works until
// [Worker.Shutdown] (SIGQUIT: running jobs finish), [Worker.ShutdownNow] (SIGTERM, SIGINT)
// or its context ends. Config.Concurrency runs several jobs at once, each slot registered as
// a worker of its own, as several php-resque processes would be.
//
// A handler gets a [Job]: its class, id and queue, its arguments (php-resque passes args[0]
// to perform(); [Job.DecodeArgs], [Job.String] and friends read it) and the payload's raw
// bytes, which goresque never re-encodes. It returns nil, an error (recorded as
// "Exception"), a [*JobError] to choose the exception name, or [ErrDontPerform].
//
// # Enqueueing and operating
//
// A [Client] pushes jobs as Resque::enqueue does ([Client.Enqueue], with [EnqueueOptions]
// for status tracking), and later as php-resque-scheduler does ([Client.EnqueueAt],
// [Client.EnqueueIn]). It reads what resque-web shows (queues, workers, stats, job
// statuses, failed and delayed jobs) and does what its buttons and PHP's API do: retry or
// remove failed jobs ([Client.RetryFailed]), dequeue ([Client.Dequeue]), remove delayed
// jobs ([Client.RemoveDelayed]) and pause every worker ([Client.Pause]). Arguments are
// encoded as PHP's json_encode writes the equivalent PHP array; [PHPObject] keeps the key
// order a Go map cannot.
//
// # Wire format
//
// Everything goresque writes where PHP reads it is byte for byte what php-resque writes:
// every Redis key is built in keys.go ([Keys], checked against recordings of real
// php-resque in keys_test.go), and every JSON document PHP decodes is written by the
// internal/phpjson package, which reimplements PHP 8.2's json_encode and json_decode rules
// and is checked against the php binary. Two dialects differ in dates, the payload's
// "prefix" field and status packets: [DialectPHPResque136] (resque/php-resque v1.3.6, the
// default) and [DialectPHPResque1] (chrisboulton/php-resque 1.x). A worker reads payloads of
// either dialect, and of Ruby resque and goworker, whatever its own. The recorded traces
// goresque is compared with are described in ../shared/golden/README.md.
//
// # Delivery and failures
//
// A job is claimed atomically (a Lua script takes it from its queue and records it in the
// worker's record and goresque's in-flight hash in one step, scripts.go) so that it is never
// lost between Redis and a process that dies. A worker that finds another dead (on its own
// host by pid, as php-resque does; on any host by an old heartbeat in Ruby resque's
// workers:heartbeat) prunes it and settles its in-flight job: it is recorded in `failed` as
// a dirty exit ([ExceptionDirtyExit]) or put back at the head of its queue
// ([RequeueDeadJobs]), where php-resque would delete the record without a trace. A queue item
// that is not a job payload PHP could run (not JSON PHP's json_decode accepts, no class,
// args not an array) goes to `failed` as [ExceptionInvalidPayload] with its exact bytes
// ([PayloadError] says why), where php-resque records null and loses them. Lost Redis
// connections are retried with backoff; a job's outcome is written once, even when a reply
// was lost.
//
// # Logs and context
//
// Library code never exits and never logs to a global: a Worker logs through the zerolog
// Logger in its Config and is driven by the context given to Run; errors are returned
// wrapped.
package resque
