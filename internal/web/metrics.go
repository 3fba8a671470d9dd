package web

import (
	"context"
	"sort"
	"time"

	"github.com/goresque/goresque/resque"

	"github.com/prometheus/client_golang/prometheus"
)

// redisCollector reads the whole Redis on each scrape: the dashboard holds no counters of
// its own, so every goresque web (and a restart) reports the same numbers, and several
// Prometheus servers may scrape it. Names follow Prometheus conventions: the goresque_
// prefix, base units in the name, _total for counters.
type redisCollector struct {
	s *Server

	up, queueLength, queueAge, workers, processed, failed, failedList, delayed, paused *prometheus.Desc

	classJobs, classFailed, classSeconds *prometheus.Desc
}

// maxClassSeries bounds the per-class metrics to the classes with the most jobs: a fleet
// may run thousands of classes, Prometheus wants tens to hundreds of series per metric.
// `goresque classes` and the Classes page list them all.
const maxClassSeries = 100

func newRedisCollector(s *Server) *redisCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("goresque_"+name, help, labels, nil)
	}
	return &redisCollector{
		s:           s,
		up:          d("redis_up", "1 when the last scrape read Redis, 0 when it failed."),
		queueLength: d("queue_length", "Jobs waiting in the queue (LLEN queue:<name>).", "queue"),
		queueAge:    d("queue_oldest_job_age_seconds", "Age of the job at the head of the queue, from its queue_time; absent for an empty queue or a payload without queue_time.", "queue"),
		workers:     d("workers", "Registered workers (all implementations) per state: busy, idle, paused, stale (heartbeat older than 5m).", "state"),
		processed:   d("jobs_processed_total", "Jobs processed by all workers (stat:processed)."),
		failed:      d("jobs_failed_total", "Jobs failed in all workers (stat:failed)."),
		failedList:  d("failed_jobs", "Failure records in the failed list (LLEN failed)."),
		delayed:     d("delayed_jobs", "Jobs scheduled for later (php-resque-scheduler and resque-scheduler)."),
		paused:      d("paused", "1 when all workers are paused (Ruby resque's pause key)."),

		classJobs:    d("class_jobs_total", "Jobs of a class performed by goresque workers, per implementation (go: a Go handler, php: the PHP bridge); the 100 classes with most jobs.", "class", "implementation"),
		classFailed:  d("class_jobs_failed_total", "Jobs of a class that failed in goresque workers, per implementation.", "class", "implementation"),
		classSeconds: d("class_job_seconds_total", "Time goresque workers spent in jobs of a class, per implementation.", "class", "implementation"),
	}
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.queueLength, c.queueAge, c.workers, c.processed, c.failed, c.failedList, c.delayed, c.paused,
		c.classJobs, c.classFailed, c.classSeconds} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := c.s.snapshot(ctx)
	if err != nil {
		c.s.opt.Logger.Error().Err(err).Msg("metrics: reading Redis failed")
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, q := range snap.Queues {
		ch <- prometheus.MustNewConstMetric(c.queueLength, prometheus.GaugeValue, float64(q.Size), q.Name)
		if q.OldestAge >= 0 {
			ch <- prometheus.MustNewConstMetric(c.queueAge, prometheus.GaugeValue, q.OldestAge, q.Name)
		}
	}
	for _, st := range workerStates {
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(snap.States[st]), st)
	}
	ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(snap.Stats.Processed))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(snap.Stats.Failed))
	ch <- prometheus.MustNewConstMetric(c.failedList, prometheus.GaugeValue, float64(snap.FailedLen))
	ch <- prometheus.MustNewConstMetric(c.delayed, prometheus.GaugeValue, float64(snap.Delayed))
	paused := 0.0
	if snap.Paused {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused)
	c.collectClasses(ctx, ch)
}

// collectClasses exports the per-class statistics goresque workers write (Keys.Classes) for
// the maxClassSeries classes with the most jobs. A failure to read them is logged; the
// other metrics stand.
func (c *redisCollector) collectClasses(ctx context.Context, ch chan<- prometheus.Metric) {
	stats, err := c.s.opt.Client.ClassStats(ctx)
	if err != nil {
		c.s.opt.Logger.Error().Err(err).Msg("metrics: reading the class statistics failed")
		return
	}
	jobs := func(ci resque.ClassInfo) int64 {
		var n int64
		for _, st := range ci.Implementations {
			n += st.Jobs
		}
		return n
	}
	sort.SliceStable(stats, func(i, j int) bool { return jobs(stats[i]) > jobs(stats[j]) })
	for _, ci := range stats[:min(len(stats), maxClassSeries)] {
		for impl, st := range ci.Implementations {
			ch <- prometheus.MustNewConstMetric(c.classJobs, prometheus.CounterValue, float64(st.Jobs), ci.Class, impl)
			ch <- prometheus.MustNewConstMetric(c.classFailed, prometheus.CounterValue, float64(st.Failed), ci.Class, impl)
			ch <- prometheus.MustNewConstMetric(c.classSeconds, prometheus.CounterValue, st.Seconds, ci.Class, impl)
		}
	}
}
