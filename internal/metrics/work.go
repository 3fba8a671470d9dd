// Package metrics exports what a `goresque work` process does to Prometheus: it implements
// resque.Observer, so the resque package stays free of any metrics library.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Work holds one worker process's metrics. Names carry the goresque_worker_ prefix, unlike
// the goresque_ metrics of `goresque web`, which describe the whole Redis: a process's
// counters and the Redis-wide totals must not share a name.
type Work struct {
	reg        *prometheus.Registry
	processed  *prometheus.CounterVec
	failed     *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	latency    *prometheus.HistogramVec
	busy       prometheus.Gauge
	slots      prometheus.Gauge
	redisErrs  prometheus.Counter
	reconnects prometheus.Counter

	classMu sync.Mutex
	classes map[string]bool // the class label values admitted, at most MaxClassLabels
}

// MaxClassLabels bounds the class label: the first MaxClassLabels classes a process
// performs keep their name and every later one is counted as class="other". Top-N by volume
// would have to move a class between series, which breaks rate() over them; a process sees
// its busy classes first in practice. `goresque classes` has every class.
const MaxClassLabels = 100

// classLabel returns class, or "other" once MaxClassLabels classes have a series.
func (w *Work) classLabel(class string) string {
	w.classMu.Lock()
	defer w.classMu.Unlock()
	if w.classes[class] {
		return class
	}
	if len(w.classes) >= MaxClassLabels {
		return "other"
	}
	w.classes[class] = true
	return class
}

var _ resque.Observer = (*Work)(nil)

// jobBuckets span 1 ms to about 20 min: jobs range from a cache write to a report.
var jobBuckets = prometheus.ExponentialBuckets(0.001, 4, 11)

// NewWork returns the metrics of a process running slots jobs at once.
func NewWork(slots int) *Work {
	w := &Work{
		reg:     prometheus.NewRegistry(),
		classes: map[string]bool{},
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "goresque_worker_jobs_processed_total", Help: "Jobs this process performed successfully (or that asked not to be performed).",
		}, []string{"queue", "class", "implementation"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "goresque_worker_jobs_failed_total", Help: "Jobs this process recorded as failed.",
		}, []string{"queue", "class", "implementation"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "goresque_worker_job_duration_seconds", Help: "How long jobs ran.", Buckets: jobBuckets,
		}, []string{"queue", "class", "implementation"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "goresque_worker_pickup_latency_seconds", Help: "From a job's queue_time to the start of its run.", Buckets: jobBuckets,
		}, []string{"queue"}),
		busy:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "goresque_worker_slots_busy", Help: "Slots running a job now."}),
		slots:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "goresque_worker_slots", Help: "Slots of this process (GORESQUE_CONCURRENCY)."}),
		redisErrs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "goresque_worker_redis_errors_total", Help: "Failed attempts to reach Redis."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "goresque_worker_redis_reconnects_total", Help: "Times Redis answered again after failures."}),
	}
	w.slots.Set(float64(slots))
	w.reg.MustRegister(w.processed, w.failed, w.duration, w.latency, w.busy, w.slots, w.redisErrs, w.reconnects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return w
}

// Handler serves the metrics in Prometheus' formats.
func (w *Work) Handler() http.Handler {
	return promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{})
}

// Registry is where the metrics are registered, for callers adding their own.
func (w *Work) Registry() *prometheus.Registry { return w.reg }

func (w *Work) JobStarted(job *resque.Job, start time.Time) {
	w.busy.Inc()
	if !job.QueueTime.IsZero() {
		w.latency.WithLabelValues(job.Queue).Observe(max(start.Sub(job.QueueTime).Seconds(), 0))
	}
}

func (w *Work) JobFinished(job *resque.Job, status resque.Status, took time.Duration) {
	w.busy.Dec()
	class, impl := w.classLabel(job.Class), job.Implementation()
	w.duration.WithLabelValues(job.Queue, class, impl).Observe(took.Seconds())
	if status == resque.StatusFailed {
		w.failed.WithLabelValues(job.Queue, class, impl).Inc()
	} else {
		w.processed.WithLabelValues(job.Queue, class, impl).Inc()
	}
}

func (w *Work) RedisError(error) { w.redisErrs.Inc() }

func (w *Work) RedisReconnected() { w.reconnects.Inc() }
