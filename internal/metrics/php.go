package metrics

import (
	"github.com/goresque/goresque/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// phpPool reads the PHP bridge's warm pool at scrape time: its numbers live in compat's
// own atomic counters, so nothing runs between scrapes, and RSS is read from /proc then.
type phpPool struct {
	php       *compat.PHP
	processes *prometheus.Desc
	restarts  *prometheus.Desc
	rss       *prometheus.Desc
}

func (c *phpPool) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.processes
	ch <- c.restarts
	ch <- c.rss
}

func (c *phpPool) Collect(ch chan<- prometheus.Metric) {
	s := c.php.Stats()
	ch <- prometheus.MustNewConstMetric(c.processes, prometheus.GaugeValue, float64(s.Processes))
	ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(s.RSSBytes))
	for reason, n := range s.Restarts {
		ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(n), reason)
	}
}

// WatchPHP adds the metrics of the PHP bridge's warm pool: goresque_worker_php_processes,
// goresque_worker_php_restarts_total{reason} and goresque_worker_php_rss_bytes. Call it
// once, when the bridge is on.
func (w *Work) WatchPHP(php *compat.PHP) {
	w.reg.MustRegister(&phpPool{
		php: php,
		processes: prometheus.NewDesc("goresque_worker_php_processes",
			"Warm php processes alive now (busy or idle).", nil, nil),
		restarts: prometheus.NewDesc("goresque_worker_php_restarts_total",
			"Warm php processes recycled, by reason: jobs (GORESQUE_PHP_MAX_JOBS), memory, ttl, crash, idle.", []string{"reason"}, nil),
		rss: prometheus.NewDesc("goresque_worker_php_rss_bytes",
			"Resident memory of the warm php processes summed (0 where /proc is absent).", nil, nil),
	})
}
