package resque

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// EnqueueAt writes the bytes ResqueScheduler::enqueueAt writes; each side's removeDelayed
// removes the other's items; counting and listing see both.
func TestDelayedInteropWithPHPScheduler(t *testing.T) {
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			e, php := newPHPEnv(t, d)
			at := time.Now().Add(time.Hour).Truncate(time.Second)
			ts := strconv.FormatInt(at.Unix(), 10)
			args := map[string]any{"n": 1, "url": "a/é"}
			if err := e.client.EnqueueAt(bg, at, "default", `App\Job`, args); err != nil {
				t.Fatal(err)
			}
			php.run("enqueue-at", ts, "default", `App\Job`, `{"n":1,"url":"a/é"}`)
			php.run("enqueue-at", ts, "other", `App\Job`, `{"n":2}`)
			if err := e.client.EnqueueAt(bg, at.Add(time.Minute), "default", `App\Job`, args); err != nil {
				t.Fatal(err)
			}
			l := e.list("delayed:" + ts)
			if len(l) != 3 || l[0] != l[1] || l[0] != `{"class":"App\\Job","args":[{"n":1,"url":"a\/\u00e9"}],"queue":"default"}` {
				t.Fatalf("delayed list %q: goresque's item must equal PHP's", l)
			}
			sched, _ := redis.Strings(e.do("ZRANGE", e.ns+"delayed_queue_schedule", 0, -1, "WITHSCORES"), nil)
			if len(sched) != 4 || sched[0] != ts || sched[1] != ts {
				t.Errorf("schedule %q", sched)
			}
			members, _ := redis.Strings(e.do("SMEMBERS", e.ns+"timestamps:"+l[0]), nil)
			if len(members) != 2 {
				t.Errorf("Ruby's timestamps set: %q, want both timestamps", members)
			}
			n, err := e.client.DelayedCount(bg)
			if err != nil || n != 4 {
				t.Errorf("DelayedCount = %d, %v", n, err)
			}
			js, err := e.client.DelayedRange(bg, 1, -1)
			if err != nil || len(js) != 3 {
				t.Fatalf("DelayedRange = %v, %v", js, err)
			}
			if !js[0].At.Equal(at) || js[0].Queue != "default" || js[1].Queue != "other" || js[1].Class != `App\Job` || string(js[1].Args) != `[{"n":2}]` || !js[2].At.Equal(at.Add(time.Minute)) {
				t.Errorf("DelayedRange: %+v", js)
			}
			// PHP's removeDelayed removes goresque's copies too (and leaves the schedule).
			var removed int
			if err := json.Unmarshal(php.run("remove-delayed", "default", `App\Job`, `{"n":1,"url":"a/é"}`), &removed); err != nil || removed != 3 {
				t.Fatalf("PHP removeDelayed = %d, %v", removed, err)
			}
			// goresque's RemoveDelayed removes PHP's and tidies the timestamp up.
			n2, err := e.client.RemoveDelayed(bg, "other", `App\Job`, map[string]any{"n": 2})
			if err != nil || n2 != 1 {
				t.Fatalf("RemoveDelayed = %d, %v", n2, err)
			}
			// PHP's removeDelayed left at+1m in the schedule with an empty list; goresque
			// removes every timestamp whose list it finds empty.
			if ex, _ := redis.Int(e.do("EXISTS", e.ns+"delayed:"+ts, e.ns+"delayed_queue_schedule"), nil); ex != 0 {
				t.Errorf("%d of delayed:<ts> and the schedule left", ex)
			}
		})
	}
}

func TestDelayedItemRefusesScalars(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque1)
	if err := e.client.EnqueueAt(bg, time.Now(), "q", "C", "scalar"); err == nil {
		t.Error("scalar args accepted")
	}
	if err := e.client.EnqueueIn(bg, time.Minute, "", "C", nil); err == nil {
		t.Error("empty queue accepted")
	}
}

func TestPause(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque1)
	if p, err := e.client.Paused(bg); err != nil || p {
		t.Fatalf("Paused = %v, %v", p, err)
	}
	if err := e.client.Pause(bg); err != nil {
		t.Fatal(err)
	}
	if v, _ := redis.String(e.do("GET", e.ns+"pause-all-workers"), nil); v != "true" {
		t.Errorf("pause-all-workers = %q", v)
	}
	if p, err := e.client.Paused(bg); err != nil || !p {
		t.Fatalf("Paused after Pause = %v, %v", p, err)
	}
	e.do("SET", e.ns+"pause-all-workers", " TRUE\n") // as Ruby reads it: strip, downcase
	if p, _ := e.client.Paused(bg); !p {
		t.Error("' TRUE' not read as paused")
	}
	if err := e.client.Resume(bg); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.client.Paused(bg); p {
		t.Error("still paused after Resume")
	}
}
