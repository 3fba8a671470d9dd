package resque

import "time"

// Observer is told what a Worker does, for metrics: `goresque work` with
// GORESQUE_METRICS_ADDR exports these events to Prometheus. php-resque has no such hook
// (its Resque_Event beforePerform/afterPerform/onFailure are the closest); an interface
// keeps the resque package free of any metrics library.
//
// The methods are called from the worker's goroutines, several at once with Concurrency
// > 1, on the path of every job: they must be safe for concurrent use, return quickly and
// never call back into the Worker. They cannot change what the worker does.
type Observer interface {
	// JobStarted is called when a slot starts performing job, at start. job.QueueTime
	// (zero when the payload has none) gives the pickup latency start − queue_time.
	JobStarted(job *Job, start time.Time)
	// JobFinished is called when the job's handler has returned (or was abandoned after a
	// kill) with the status recorded for it, StatusComplete or StatusFailed, and how long
	// it ran.
	JobFinished(job *Job, status Status, took time.Duration)
	// RedisError is called for each failed attempt to reach Redis; RedisReconnected when
	// Redis answers again after failures.
	RedisError(err error)
	RedisReconnected()
}
