package command

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/goresque/goresque/compat"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

func workCommand(env lookupFunc, mux *resque.Mux, code *int) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "queue", Aliases: []string{"q"}, Usage: "queues to work, highest priority first, comma separated; * for all (env QUEUE)"},
		&cli.StringFlag{Name: "interval", Usage: "seconds to sleep when the queues are empty; the wait in blocking mode (env INTERVAL; default 5)"},
		&cli.BoolFlag{Name: "blocking", Usage: "wait on the queues instead of polling (env BLOCKING: on when set)"},
		&cli.StringFlag{Name: "count", Usage: "number of worker processes (env COUNT)"},
		&cli.StringFlag{Name: "concurrency", Usage: "jobs at once per process, each slot a registered worker (env GORESQUE_CONCURRENCY; default 1)"},
		&cli.StringFlag{Name: "app-include", Usage: "PHP file to load before PHP jobs run, e.g. vendor/autoload.php (env APP_INCLUDE)"},
		&cli.StringFlag{Name: "pidfile", Usage: "write the process id to this file (env PIDFILE)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every job (env LOGGING or VERBOSE)"},
		&cli.BoolFlag{Name: "vverbose", Aliases: []string{"vv"}, Usage: "log debug details too (env VVERBOSE)"},
		&cli.StringFlag{Name: "log-format", Usage: "json, console or auto (env GORESQUE_LOG_FORMAT; default auto: console on a terminal)"},
		&cli.StringFlag{Name: "shutdown-timeout", Usage: "longest wait for running jobs after SIGQUIT, then stop as for SIGTERM (env GORESQUE_SHUTDOWN_TIMEOUT; default: no limit)"},
		&cli.StringFlag{Name: "dead-jobs", Usage: "what to do with a dead worker's job: fail or requeue (env GORESQUE_DEAD_JOBS; default fail)"},
		&cli.StringFlag{Name: "heartbeat", Usage: "how often each worker writes its heartbeat (env GORESQUE_HEARTBEAT_INTERVAL; default 60s, Ruby resque's)"},
		&cli.StringFlag{Name: "prune-after", Usage: "prune workers on any host whose heartbeat is older (env GORESQUE_PRUNE_AFTER; default 300s, at least 3 heartbeats)"},
		&cli.BoolFlag{Name: "scheduler", Usage: "also move due delayed jobs onto their queues, as `goresque scheduler` (env GORESQUE_SCHEDULER)"},
		&cli.StringFlag{Name: "php", Usage: "PHP bridge for classes without a Go handler: pool (warm processes), job (php per job) or off (env GORESQUE_PHP; default pool)"},
		&cli.StringFlag{Name: "php-isolation", Usage: "pool: fork (a child per job, as php-resque) or none (jobs run in the warm process) (env GORESQUE_PHP_ISOLATION; default fork)"},
		&cli.StringFlag{Name: "php-binary", Usage: "php executable (env GORESQUE_PHP_BINARY; default php)"},
		&cli.StringFlag{Name: "php-args", Usage: "extra php arguments, split on spaces, e.g. \"-d memory_limit=512M\" (env GORESQUE_PHP_ARGS)"},
		&cli.StringFlag{Name: "php-pool", Usage: "the most PHP jobs (and php processes) at once, started lazily (env GORESQUE_PHP_POOL; default: CPUs, at most the slots)"},
		&cli.StringFlag{Name: "php-timeout", Usage: "kill a PHP job after this long, recorded as a dirty exit (env GORESQUE_PHP_TIMEOUT; default: no limit)"},
		&cli.StringFlag{Name: "php-max-jobs", Usage: "recycle a warm PHP process after this many jobs (env GORESQUE_PHP_MAX_JOBS)"},
		&cli.StringFlag{Name: "php-max-memory", Usage: "recycle a warm PHP process above this resident size, in MB (env GORESQUE_PHP_MAX_MEMORY)"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics of this process on this address, e.g. 127.0.0.1:9121 (env GORESQUE_METRICS_ADDR)"},
		&cli.StringFlag{Name: "php-ttl", Usage: "recycle a warm PHP process after this age (env GORESQUE_PHP_TTL)"},
	}
	return &cli.Command{
		Name:  "work",
		Usage: "work queues like php-resque's bin/resque (same environment variables)",
		Description: `Signals, as php-resque: QUIT finish the running job then stop; TERM/INT stop now
(the running job is cancelled and recorded as failed); USR1 kill the running job only;
USR2 pause; CONT resume.`,
		Flags: append(flags, redisFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("work takes no arguments; set QUEUE or --queue")
			}
			s, err := readWorkSettings(source{env: env, flags: given(c)})
			if err != nil {
				return err
			}
			obs, stopMetrics, err := serveWorkMetrics(source{env: env, flags: given(c)}, s, c.App.ErrWriter)
			if err != nil {
				return err
			}
			defer stopMetrics()
			if s.Count > 1 {
				if _, child := env(countChildEnv); !child {
					*code = superviseCount(c.Context, s, c.App.ErrWriter)
					return nil
				}
			}
			*code, err = work(c.Context, s, c, mux, obs)
			return err
		},
	}
}

// work runs one worker process until it is told to stop.
func work(ctx context.Context, s workSettings, c *cli.Context, mux *resque.Mux, obs resque.Observer) (int, error) {
	log := newLogger(c.App.ErrWriter, s.Verbose, s.VVerbose, s.LogFormat)
	s.Redis.HA.Logger = log
	pool, display, err := newPool(s.Redis, s.Concurrency+len(s.Queues)+4)
	if err != nil {
		return exitUsage, err
	}
	defer pool.Close()
	if err := checkRedis(ctx, pool, display); err != nil {
		return exitFailure, err
	}
	if !s.PHP.Off && mux.FallbackHandler() == nil {
		php, err := newPHPBridge(ctx, s, log)
		if err != nil {
			return exitFailure, err
		}
		defer php.Close()
		mux.Fallback(php)
	}
	w, err := resque.NewWorker(pool, resque.Config{
		Namespace:         s.Prefix,
		Queues:            s.Queues,
		Interval:          s.Interval,
		Blocking:          s.Blocking,
		Concurrency:       s.Concurrency,
		Dialect:           s.Dialect,
		Handler:           mux,
		Logger:            log,
		ShutdownTimeout:   s.ShutdownTimeout,
		HeartbeatInterval: s.Heartbeat,
		PruneAfter:        s.PruneAfter,
		DeadJobs:          s.DeadJobs,
		Observer:          obs,
	})
	if err != nil {
		return exitUsage, err
	}
	if s.PIDFile != "" {
		if err := writePIDFile(s.PIDFile); err != nil {
			return exitFailure, err
		}
		defer os.Remove(s.PIDFile)
	}
	if s.Scheduler {
		defer startScheduler(ctx, pool, s, log)()
	}
	stop := handleSignals(w, log)
	defer stop()
	log.Info().Str("redis", display).Msg("goresque " + version())
	if err := w.Run(ctx); err != nil {
		return exitFailure, err
	}
	return exitOK, nil
}

// newPHPBridge starts the PHP bridge and loads the application once, so that a missing php
// or a broken APP_INCLUDE is one clear line at start, not a failure per job.
func newPHPBridge(ctx context.Context, s workSettings, log zerolog.Logger) (*compat.PHP, error) {
	// Jobs that use php-resque themselves (Resque::enqueue) find the Redis settings they
	// had under bin/resque, also when goresque got them as flags.
	var env []string
	if s.Redis.Backend != "" {
		env = append(env, "REDIS_BACKEND="+s.Redis.Backend)
	}
	if s.Redis.DB >= 0 {
		env = append(env, "REDIS_BACKEND_DB="+strconv.Itoa(s.Redis.DB))
	}
	if s.Prefix != "" {
		env = append(env, "PREFIX="+s.Prefix)
	}
	php, err := compat.New(compat.Config{
		Binary: s.PHP.Binary, Args: s.PHP.Args, AppInclude: s.AppInclude, Env: env,
		Mode: s.PHP.Mode, Isolation: s.PHP.Isolation, PoolSize: phpPoolSize(s.PHP.Pool, s.Concurrency),
		Timeout: s.PHP.Timeout, MaxJobs: s.PHP.MaxJobs, MaxMemory: s.PHP.MaxMemory, TTL: s.PHP.TTL,
		Dialect: s.Dialect, Logger: log, Debug: s.PHP.Debug,
	})
	if err != nil {
		return nil, err
	}
	if err := php.Check(ctx); err != nil {
		php.Close()
		return nil, err
	}
	log.Info().Str("mode", s.PHP.Mode.String()).Str("isolation", s.PHP.Isolation.String()).Int("pool", php.Config().PoolSize).
		Str("app_include", s.AppInclude).Msg("PHP bridge ready for classes without a Go handler (php starts with the first)")
	return php, nil
}

// phpPoolSize is the PHP pool's size: GORESQUE_PHP_POOL, by default the number of CPUs (PHP
// jobs are CPU-bound more often than a Go job), never more than the slots that could use it.
func phpPoolSize(pool, slots int) int {
	if pool <= 0 {
		pool = runtime.NumCPU()
	}
	return max(1, min(pool, slots))
}

// writePIDFile writes the pid as php-resque does (file_put_contents($PIDFILE, getmypid())),
// with mode 0644 and without following a symlink planted at the path.
func writePIDFile(path string) error {
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("could not write PID information to %s: %w", path, err)
	}
	_, err = f.WriteString(strconv.Itoa(os.Getpid()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("could not write PID information to %s: %w", path, err)
	}
	return nil
}
