package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
)

// Class is the PHP class name of the jobs the driver enqueues, run by the Go Handler.
const Class = "Chaos_Job"

// PHPClass is the class of the jobs the driver enqueues for the PHP bridge (Config.PHPShare):
// testdata/phpapp/jobs/Chaos/PhpJob.php, which records its executions exactly as Handler
// does, in the same sets. WorkerMux has no handler for it, so the worker's PHP bridge runs it.
const PHPClass = "Chaos_PhpJob"

// The environment the driver sets for the worker program, read by WorkerMux.
const (
	// EnvRedis is the handler's own Redis: "unix:/path/r.sock" or "tcp:127.0.0.1:port".
	EnvRedis = "GORESQUE_CHAOS_REDIS"
	// EnvRunsKey is the key prefix of the per-job execution sets: <prefix><job id>.
	EnvRunsKey = "GORESQUE_CHAOS_RUNS_KEY"
	// EnvMaxSleep is the longest random sleep of a job, as a Go duration.
	EnvMaxSleep = "GORESQUE_CHAOS_MAX_SLEEP"
	// EnvMaxSleepMicros is the same in microseconds, for the PHP job.
	EnvMaxSleepMicros = "GORESQUE_CHAOS_MAX_SLEEP_US"
	// EnvRunToken marks every process of one run (inherited by COUNT workers and the PHP
	// processes a worker starts), so that the driver signals only its own processes.
	EnvRunToken = "GORESQUE_CHAOS_RUN"
)

// WorkerMux returns the mux of the worker program under test: the Chaos_Job handler,
// configured from the environment the driver sets (EnvRedis, EnvRunsKey, EnvMaxSleep).
// A program runs it as os.Exit(command.Main(chaos.WorkerMux())).
func WorkerMux() *resque.Mux {
	network, addr, _ := strings.Cut(os.Getenv(EnvRedis), ":")
	maxSleep, _ := time.ParseDuration(os.Getenv(EnvMaxSleep))
	pool := &redis.Pool{
		MaxIdle:     16,
		IdleTimeout: time.Minute,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, network, addr, redis.DialConnectTimeout(5*time.Second),
				redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
		},
	}
	mux := resque.NewMux()
	mux.Handle(Class, Handler(pool, os.Getenv(EnvRunsKey), maxSleep))
	return mux
}

var execSeq atomic.Int64

// Handler is the Chaos_Job handler. Each execution first adds a token unique to the
// execution (pid/worker id/sequence) to the set <runsKey><job id>, on a connection of its
// own, retrying until Redis acknowledged it: SADD of the same token is idempotent, so a
// connection killed before the reply can neither lose nor double an execution. Then it
// sleeps a random time up to maxSleep, so that kills land while jobs run, and sets the
// token as the job's result (the status packet then names the execution that completed it).
func Handler(pool *redis.Pool, runsKey string, maxSleep time.Duration) resque.Handler {
	return resque.HandlerFunc(func(ctx context.Context, job *resque.Job) error {
		token := fmt.Sprintf("%d/%s/%d", os.Getpid(), job.Worker, execSeq.Add(1))
		delay := 5 * time.Millisecond
		for {
			c, err := pool.GetContext(ctx)
			if err == nil {
				_, err = c.Do("SADD", runsKey+job.ID, token)
				c.Close()
				if err == nil {
					break
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay = min(2*delay, 500*time.Millisecond)
		}
		if maxSleep > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(rand.N(maxSleep + 1)):
			}
		}
		job.SetResult(token)
		return nil
	})
}
