package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// BenchmarkLiveView measures what one open dashboard tab costs per poll, and one
// Prometheus scrape, against 50 queues of 100 jobs, 20 workers (half busy), 1,000 failures
// and 1,000 delayed jobs.
//
//	go test ./internal/web -run '^$' -bench LiveView -benchtime 200x
func BenchmarkLiveView(b *testing.B) {
	if testServer == nil {
		redistest.Unavailable(b, testServerErr)
	}
	pool := testServer.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	ns := redistest.Namespace(b)
	keys := resque.NewKeys(ns)
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque136})
	ctx := context.Background()
	for q := range 50 {
		for i := range 100 {
			if _, err := client.Enqueue(ctx, fmt.Sprintf("queue%02d", q), "Job", map[string]int{"i": i}, resque.EnqueueOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for w := range 20 {
		id := fmt.Sprintf("host:%d:queue00", 1000+w)
		conn.Send("SADD", keys.Workers(), id)
		conn.Send("SET", keys.WorkerStarted(id), "2026-12-01T10:00:00+00:00")
		if w%2 == 0 {
			conn.Send("SET", keys.Worker(id), `{"queue":"queue00","run_at":"2026-12-01T10:00:00+00:00","payload":{"class":"Job","args":[]}}`)
		}
	}
	for i := range 1000 {
		conn.Send("RPUSH", keys.Failed(), fmt.Sprintf(`{"failed_at":"2026-12-01T10:00:00+00:00","payload":{"class":"Job","args":[{"i":%d}]},"exception":"E","error":"e","backtrace":[],"worker":"h:1:q","queue":"queue00"}`, i))
		if err := client.EnqueueAt(ctx, time.Now().Add(time.Hour+time.Duration(i)*time.Second), "queue00", "Later", map[string]int{"i": i}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Do(""); err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Client: client})
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/overview", "/metrics", "/failed?class=job"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", path, nil)
				rec := &discard{header: http.Header{}}
				s.ServeHTTP(rec, req)
				if rec.code != 0 && rec.code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.code)
				}
			}
		})
	}
}

type discard struct {
	header http.Header
	code   int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (d *discard) WriteHeader(code int)        { d.code = code }
