package command

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/goresque/goresque/internal/metrics"
	"github.com/goresque/goresque/resque"
)

// serveWorkMetrics serves a worker process's Prometheus /metrics on GORESQUE_METRICS_ADDR
// (--metrics-addr) and returns the observer to give the worker; with no address it returns
// a nil observer and serves nothing. COUNT > 1 with an address is refused: every process
// would need the same port.
func serveWorkMetrics(s workSettings, stderr io.Writer) (resque.Observer, func(), error) {
	addr := s.MetricsAddr
	if addr == "" {
		return nil, func() {}, nil
	}
	if s.Count > 1 {
		return nil, nil, badSetting("GORESQUE_METRICS_ADDR=%s with COUNT=%d: each process would need its own port; use GORESQUE_CONCURRENCY for more jobs at once in one process", addr, s.Count)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, badSetting("GORESQUE_METRICS_ADDR=%s: %v", addr, err)
	}
	m := metrics.NewWork(max(s.Concurrency, 1))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Fprintf(stderr, "goresque: metrics on http://%s/metrics\n", ln.Addr())
	return m, func() { _ = hs.Close() }, nil
}
