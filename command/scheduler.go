package command

import (
	"context"
	"os/signal"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

func schedulerCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "scheduler",
		Usage: "move delayed jobs onto their queues when due, as php-resque-scheduler's worker",
		Description: `Reads php-resque-scheduler's delayed_queue_schedule and delayed:<ts> lists (and Ruby
resque-scheduler's, the same format); jobs get a fresh id and queue_time as Resque::enqueue
gives them. Any number of goresque schedulers may run beside php-resque-scheduler or Ruby's:
no job is moved twice. QUIT, TERM and INT stop it after the current pass. The same runs
inside a worker with work --scheduler (GORESQUE_SCHEDULER=1).`,
		Flags: settingFlags(schedulerSetting),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("scheduler takes no arguments")
			}
			s, err := readSettings(source{env: env, flags: given(c)}, schedulerSetting)
			if err != nil {
				return err
			}
			log := newLogger(c.App.ErrWriter, s.Verbose, false, s.LogFormat)
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return runScheduler(ctx, pool, client, s.Interval, log)
		},
	}
}

// runScheduler runs a Scheduler on the client's namespace and dialect until ctx is done.
func runScheduler(ctx context.Context, pool *redis.Pool, client *resque.Client, interval time.Duration, log zerolog.Logger) error {
	s, err := resque.NewScheduler(pool, resque.SchedulerConfig{
		Namespace: client.Keys().Namespace(), Dialect: client.Dialect(), Interval: interval, Logger: log,
	})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// startScheduler runs a scheduler beside a worker (work --scheduler) on the worker's
// namespace, dialect and interval; stop ends it after its current pass and waits.
func startScheduler(ctx context.Context, pool *redis.Pool, s workSettings, log zerolog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runScheduler(ctx, pool, resque.NewClient(pool, resque.ClientConfig{Namespace: s.Prefix, Dialect: s.Dialect}), s.Interval, log); err != nil {
			log.Error().Err(err).Msg("scheduler stopped")
		}
	}()
	return func() { cancel(); <-done }
}

// schedulerSetting picks the rows of settingsTable that `goresque scheduler` reads besides
// the global ones: INTERVAL (seconds between passes), LOGGING/VERBOSE and the log format.
func schedulerSetting(st setting) bool {
	switch st.flag {
	case "interval", "verbose", "log-format":
		return true
	}
	return false
}
