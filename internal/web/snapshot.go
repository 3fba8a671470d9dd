package web

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/goresque/goresque/resque"
)

// staleAfter is when a worker whose heartbeat stopped is flagged: Ruby resque prunes a
// worker whose heartbeat is older than its prune_interval, 5 × the 60 s heartbeat.
const staleAfter = 5 * time.Minute

// Worker states, as the overview counts them and goresque_workers{state} exports them. A
// worker is in exactly one: stale (heartbeat too old) wins over busy, busy over paused.
const (
	stateBusy   = "busy"
	stateIdle   = "idle"
	statePaused = "paused"
	stateStale  = "stale"
)

var workerStates = []string{stateBusy, stateIdle, statePaused, stateStale}

// queueRow is one queue with the age of its oldest job.
type queueRow struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// OldestAge is now − queue_time of the job at the head; -1 when empty or unknown.
	OldestAge float64 `json:"oldest_age_seconds"`
}

// workerRow is a registered worker with what the dashboard derives from its records.
type workerRow struct {
	resque.WorkerInfo
	State     string
	Beat      time.Time // zero: no heartbeat (php-resque writes none)
	Class     string    // of the job it works on
	JobQueue  string
	JobID     string
	RunAt     string
	JobRecord string // the working-on record, indented
}

// snapshot is everything the overview, the live API and /metrics show, read in a few
// round trips through the library's inspection API.
type snapshot struct {
	Time      time.Time
	Queues    []queueRow
	Workers   []workerRow
	States    map[string]int
	Stats     resque.Stats
	Paused    bool
	FailedLen int64
	Delayed   int64
}

func (s *Server) snapshot(ctx context.Context) (*snapshot, error) {
	c := s.opt.Client
	snap := &snapshot{Time: s.now(), States: map[string]int{}}
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	snap.Stats = st
	snap.FailedLen = st.FailedLen
	qs, err := c.Queues(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name
	}
	heads, err := c.QueueHeads(ctx, names)
	if err != nil {
		return nil, err
	}
	for i, q := range qs {
		row := queueRow{Name: q.Name, Size: q.Size, OldestAge: -1}
		if h := heads[i]; !h.Empty && !h.QueueTime.IsZero() {
			row.OldestAge = max(snap.Time.Sub(h.QueueTime).Seconds(), 0)
		}
		snap.Queues = append(snap.Queues, row)
	}
	if err := s.readOperate(ctx, snap); err != nil {
		return nil, err
	}
	ws, err := c.Workers(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		row := workerRowOf(w, snap.Time, snap.Paused)
		snap.States[row.State]++
		snap.Workers = append(snap.Workers, row)
	}
	return snap, nil
}

func workerRowOf(w resque.WorkerInfo, now time.Time, paused bool) workerRow {
	row := workerRow{WorkerInfo: w, State: stateIdle}
	if t, ok := parseWhen(w.Heartbeat); ok {
		row.Beat = t
	}
	if w.Working != nil {
		row.State = stateBusy
		var rec struct {
			Queue   string `json:"queue"`
			RunAt   any    `json:"run_at"`
			Payload struct {
				Class string `json:"class"`
				ID    string `json:"id"`
			} `json:"payload"`
		}
		if json.Unmarshal(w.Working, &rec) == nil {
			row.Class, row.JobQueue, row.JobID = rec.Payload.Class, rec.Queue, rec.Payload.ID
			switch v := rec.RunAt.(type) {
			case string:
				row.RunAt = v
			case float64: // a unix time, should a producer write one
				row.RunAt = time.Unix(int64(v), 0).UTC().Format(time.RFC3339)
			}
		}
		row.JobRecord = indentJSON(w.Working)
	} else if paused {
		row.State = statePaused
	}
	if !row.Beat.IsZero() && now.Sub(row.Beat) > staleAfter {
		row.State = stateStale
	}
	return row
}

// whenLayouts are the date formats the implementations write for started, run_at,
// failed_at and heartbeats: PHP's date('c') (php-resque 1.3, goresque, Ruby's
// heartbeat), php-resque 1.x's strftime('%a %b %d %H:%M:%S %Z %Y'), Ruby's Time#to_s
// and its failure records' "%Y/%m/%d %H:%M:%S %Z".
var whenLayouts = []string{
	time.RFC3339Nano,
	"Mon Jan 02 15:04:05 MST 2006",
	"2006-01-02 15:04:05 -0700",
	"2006/01/02 15:04:05 MST",
	"2006/01/02 15:04:05 -0700",
	"Mon Jan 2 15:04:05 MST 2006",
	time.RFC1123,
}

func parseWhen(s string) (time.Time, bool) {
	for _, l := range whenLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// indentJSON indents a record for reading without re-ordering keys or re-writing numbers
// (json.Indent only moves whitespace); bytes that are not JSON are shown as they are.
func indentJSON(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
