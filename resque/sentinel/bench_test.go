package sentinel_test

import (
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque/sentinel"
)

// BenchmarkWaitReplicas measures what WAIT 1 adds to a write like goresque's enqueue (SADD,
// RPUSH, SET in one round trip) against a master with one replica on this host. Plain and
// waited writes alternate within the loop, so that the load of a shared machine weighs on
// both alike; it reports each one's mean latency and their ratio.
//
//	go test ./resque/sentinel -run '^$' -bench WaitReplicas -count 5
func BenchmarkWaitReplicas(b *testing.B) {
	h := redistest.StartHATB(b, redistest.HAOptions{Sentinels: 1})
	raw1, err := h.Conn(h.Servers[0])
	if err != nil {
		b.Fatal(err)
	}
	defer raw1.Close()
	raw2, err := h.Conn(h.Servers[0])
	if err != nil {
		b.Fatal(err)
	}
	waited := sentinel.WaitReplicas(raw2, 1, 2*time.Second)
	defer waited.Close()
	payload := `{"class":"Bench_Job","args":[{"n":1}],"id":"0123456789abcdef0123456789abcdef","queue_time":1700000000.1234}`
	var plainD, waitD time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, c := range []interface {
			Send(string, ...any) error
			Do(string, ...any) (any, error)
		}{raw1, waited} {
			t0 := time.Now()
			c.Send("SADD", "bench:queues", "q")
			c.Send("RPUSH", "bench:queue:q", payload)
			c.Send("SET", "bench:job:status", `{"status":1}`)
			if _, err := c.Do(""); err != nil {
				b.Fatal(err)
			}
			if j == 0 {
				plainD += time.Since(t0)
			} else {
				waitD += time.Since(t0)
			}
		}
		if i%1000 == 999 {
			raw1.Do("DEL", "bench:queue:q")
		}
	}
	b.ReportMetric(float64(plainD.Microseconds())/float64(b.N), "µs/plain")
	b.ReportMetric(float64(waitD.Microseconds())/float64(b.N), "µs/wait1")
	b.ReportMetric(float64(waitD)/float64(plainD), "wait/plain")
}
