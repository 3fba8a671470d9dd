package resque

import (
	"fmt"
	"testing"
)

// BenchmarkDequeueHalf dequeues every other job of a 20,000-job queue.
func BenchmarkDequeueHalf(b *testing.B) {
	srv := server(b)
	pool := srv.Pool()
	defer pool.Close()
	conn := pool.Get()
	defer conn.Close()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-dequeue-%d:", i)
		c := NewClient(pool, ClientConfig{Namespace: ns, Dialect: DialectPHPResque1})
		args := []any{ns + "queue:q"}
		for j := 0; j < 20000; j++ {
			cl := "Keep"
			if j%2 == 0 {
				cl = "Drop"
			}
			args = append(args, fmt.Sprintf(`{"class":"%s","args":[{"j":%d}],"id":"%032d","queue_time":1795727998.5}`, cl, j, j))
		}
		if _, err := conn.Do("RPUSH", args...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := c.Dequeue(bg, "q", "Drop", nil)
		if err != nil || n != 10000 {
			b.Fatal(n, err)
		}
		b.StopTimer()
		conn.Do("DEL", ns+"queue:q")
	}
}
