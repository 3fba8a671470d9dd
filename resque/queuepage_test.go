package resque

import (
	"context"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func TestQueueRangeHeadsAndRemove(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	now := time.Unix(1700000000, 250000000)
	b.client.now = func() time.Time { return now }
	ids := make([]string, 3)
	for i := range ids {
		id, err := b.client.Enqueue(ctx, "q", "Job", map[string]int{"n": i}, EnqueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	// A payload no worker could run is still listed, with its error.
	if _, err := b.conn.Do("RPUSH", b.keys.Queue("q"), "not json"); err != nil {
		t.Fatal(err)
	}
	page, err := b.client.QueueRange(ctx, "q", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Index != 1 || page[0].Job.ID != ids[1] || page[1].Job.ID != ids[2] {
		t.Fatalf("page 1..2 = %+v", page)
	}
	tail, err := b.client.QueueRange(ctx, "q", -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(tail) != 1 || tail[0].Index != 3 || tail[0].Job != nil || tail[0].Err == nil || string(tail[0].Raw) != "not json" {
		t.Fatalf("tail = %+v", tail)
	}

	// A queue key that is not a list (WRONGTYPE) has no head; the others are still read.
	if _, err := b.conn.Do("SET", b.keys.Queue("str"), "x"); err != nil {
		t.Fatal(err)
	}
	heads, err := b.client.QueueHeads(ctx, []string{"q", "empty", "str"})
	if err != nil {
		t.Fatal(err)
	}
	if !heads[0].QueueTime.Equal(now.Round(time.Microsecond)) || heads[0].Empty || !heads[1].Empty || !heads[2].QueueTime.IsZero() {
		t.Fatalf("heads = %+v", heads)
	}

	n, err := b.client.RemoveQueued(ctx, "q", page[0].Raw)
	if err != nil || n != 1 {
		t.Fatalf("RemoveQueued = %d, %v", n, err)
	}
	if n, _ := b.client.RemoveQueued(ctx, "q", page[0].Raw); n != 0 {
		t.Fatalf("second RemoveQueued removed %d", n)
	}
	if l, _ := redis.Int(b.conn.Do("LLEN", b.keys.Queue("q"))); l != 3 {
		t.Fatalf("LLEN = %d, want 3", l)
	}
}
