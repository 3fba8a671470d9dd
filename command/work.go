package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/goresque/goresque/compat"
	"github.com/goresque/goresque/internal/metrics"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

func workCommand(env lookupFunc, mux *resque.Mux, code *int) *cli.Command {
	return &cli.Command{
		Name:  "work",
		Usage: "work queues like php-resque's bin/resque (same environment variables)",
		Description: "Settings come from php-resque's environment variables or these flags (a flag wins).\n" +
			envOnlyHelp(isWorkOnly) + "\n\nSignals, as php-resque:\n" + signalHelp(),
		Flags: settingFlags(isWorkOnly),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("work takes no arguments; set QUEUE or --queue")
			}
			s, err := readWorkSettings(source{env: env, flags: given(c)})
			if err != nil {
				return err
			}
			obs, stopMetrics, err := serveWorkMetrics(s, c.App.ErrWriter)
			if err != nil {
				return err
			}
			defer stopMetrics()
			if _, child := env(countChildEnv); child {
				s.PIDFile = "" // the COUNT parent's: kill -QUIT $(cat pidfile) stops them all
			} else if s.Count > 1 {
				*code = superviseCount(c.Context, s, c.App.ErrWriter)
				return nil
			}
			*code, err = work(c.Context, s, c, mux, obs)
			return err
		},
	}
}

// isWorkOnly: the settings of work besides the global ones.
func isWorkOnly(st setting) bool { return !st.global && st.cmd == "" }

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
		held := newHeldWriter(c.App.ErrWriter)
		php, err := newPHPBridge(ctx, s, newLogger(held, s.Verbose, s.VVerbose, logFormat(c.App.ErrWriter, s.LogFormat)))
		held.release(err == nil || s.VVerbose)
		if errors.Is(err, compat.ErrAppInclude) {
			prefix := fmt.Sprintf("%v (APP_INCLUDE=%q): ", compat.ErrAppInclude, s.AppInclude)
			return exitUsage, badSetting("APP_INCLUDE=%q could not be loaded: %s", s.AppInclude, phpErrorLine(strings.TrimPrefix(err.Error(), prefix)))
		}
		if err != nil {
			return exitFailure, err
		}
		defer php.Close()
		mux.Fallback(php)
		if m, ok := obs.(*metrics.Work); ok {
			m.WatchPHP(php) // GORESQUE_METRICS_ADDR: the warm pool's processes, restarts, RSS
		}
	}
	for class, r := range s.Retries {
		mux.SetRetry(class, r) // GORESQUE_RETRY overrides a policy set in Go
	}
	for class, share := range s.Routes {
		mux.SetRoute(class, share) // GORESQUE_ROUTE overrides a default set in Go
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
		ClassStats:        s.ClassStats,
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
	t, _ := parseBackend(s.Redis) // newPool above parsed it already
	procs, restore := capProcs(s.Concurrency, onThisHost(t.network, t.addr))
	defer restore()
	log.Info().Str("redis", display).Int("gomaxprocs", procs).Msg("goresque " + version())
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
