package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
)

// TestRetryAndRemoveFailed works on failure records written by real php-resque and by a
// goresque worker, through the forms of the failed page.
func TestRetryAndRemoveFailed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.php("fail", "php", "PHP_Bad", `{"n":1}`, "first")
	e.startWorker("go", func(ctx context.Context, j *resque.Job) error { return errors.New("go failure") })
	if _, err := e.client.Enqueue(ctx, "go", "Go_Bad", map[string]int{"n": 2}, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goresque to record the failure", func() bool { return e.llen(e.keys.Failed()) == 2 })

	page := e.mustGet("/failed")
	first, err := e.client.FailedRange(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Retry the PHP one: its exact payload goes back to its queue, the record stays with
	// retried_at, as resque-web's retry does.
	form := formFor(t, page, "/failed/retry", `value="`+sum(first[0].Raw)+`"`)
	code, loc, body := e.post("/failed/retry", form)
	if code != http.StatusSeeOther || !strings.Contains(loc, "flash=Retried") {
		t.Fatalf("retry: %d %s %s", code, loc, body)
	}
	got, _ := redis.Bytes(e.conn.Do("LINDEX", e.keys.Queue("php"), 0))
	if string(got) != string(first[0].Payload) {
		t.Fatalf("retry pushed %s, want the failed payload %s", got, first[0].Payload)
	}
	after, _ := e.client.FailedRange(ctx, 0, -1)
	if len(after) != 2 || after[0].RetriedAt == "" {
		t.Fatalf("after retry: %+v", after)
	}
	if page := e.mustGet(loc); !strings.Contains(page, "Retried PHP_Bad") || !strings.Contains(page, "retried ") {
		t.Errorf("the page after retry does not say so")
	}

	// A stale form (the list moved) does nothing.
	code, loc, _ = e.post("/failed/remove", form)
	if code != http.StatusSeeOther || !strings.Contains(loc, "moved") || e.llen(e.keys.Failed()) != 2 {
		t.Fatalf("stale remove: %d %s, %d records", code, loc, e.llen(e.keys.Failed()))
	}

	// Remove the goresque one.
	form = formFor(t, e.mustGet("/failed"), "/failed/remove", `value="`+sum(after[1].Raw)+`"`)
	if code, loc, _ = e.post("/failed/remove", form); code != http.StatusSeeOther || !strings.Contains(loc, "Removed") {
		t.Fatalf("remove: %d %s", code, loc)
	}
	left, _ := e.client.FailedRange(ctx, 0, -1)
	if len(left) != 1 || left[0].Class != "PHP_Bad" {
		t.Fatalf("after remove: %+v", left)
	}
}

// TestBulkFailedWithFilterAndConfirmation: retry-all and remove-all act on the records
// the filter matches, only after the confirmation page.
func TestBulkFailedWithFilterAndConfirmation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, f := range []struct{ queue, class, msg string }{
		{"mail", "Mail_Send", "smtp down"}, {"mail", "Mail_Send", "smtp down"}, {"mail", "Mail_Bounce", "bad address"},
		{"pdf", "Pdf_Render", "smtp down"},
	} {
		e.php("fail", f.queue, f.class, `[]`, f.msg)
	}
	page := e.mustGet("/failed?queue=mail&exception=SMTP")
	if !strings.Contains(page, "2 matching jobs") || strings.Contains(page, "Pdf_Render") || strings.Contains(page, "Mail_Bounce") {
		t.Fatalf("filter queue=mail exception=SMTP:\n%s", page)
	}
	form := formFor(t, page, "/failed/bulk", `value="retry"`)
	code, _, body := e.post("/failed/bulk", form)
	if code != http.StatusOK || !strings.Contains(body, "Retry 2 jobs") {
		t.Fatalf("bulk retry without confirmation: %d\n%s", code, body)
	}
	if e.llen(e.keys.Queue("mail")) != 0 {
		t.Fatal("bulk retry acted before confirmation")
	}
	confirm := formFor(t, body, "/failed/bulk", `value="yes"`)
	code, loc, _ := e.post("/failed/bulk", confirm)
	if code != http.StatusSeeOther || !strings.Contains(loc, "Retried+2") {
		t.Fatalf("confirmed bulk retry: %d %s", code, loc)
	}
	if n := e.llen(e.keys.Queue("mail")); n != 2 {
		t.Fatalf("bulk retry pushed %d jobs to mail, want 2", n)
	}
	if e.llen(e.keys.Queue("pdf")) != 0 {
		t.Fatal("bulk retry touched a record the filter excluded")
	}

	page = e.mustGet("/failed?class=mail_")
	form = formFor(t, page, "/failed/bulk", `value="remove"`)
	form.Set("confirm", "yes")
	if code, loc, _ = e.post("/failed/bulk", form); code != http.StatusSeeOther || !strings.Contains(loc, "Removed+3") {
		t.Fatalf("bulk remove: %d %s", code, loc)
	}
	left, _ := e.client.FailedRange(ctx, 0, -1)
	if len(left) != 1 || left[0].Class != "Pdf_Render" {
		t.Fatalf("after removing class~mail_: %+v", left)
	}
}

func TestQueueRemoveAndDequeue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.php("enqueue", "q", "PHP_Keep", `{"a":1}`)
	e.php("enqueue", "q", "PHP_Drop", `{"a":2}`)
	e.php("enqueue", "q", "PHP_Drop", `{"a":3}`)
	if _, err := e.client.Enqueue(ctx, "q", "Go_One", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	page := e.mustGet("/queues/q")
	jobs, _ := e.client.QueueRange(ctx, "q", 3, 3)
	form := formFor(t, page, "/queues/q", `value="`+sum(jobs[0].Raw)+`"`)
	if code, loc, _ := e.post("/queues/q", form); code != http.StatusSeeOther || !strings.Contains(loc, "Removed+1") {
		t.Fatalf("remove: %d %s", code, loc)
	}
	// The same form again: the entry at that index is gone, nothing else is removed.
	if code, loc, _ := e.post("/queues/q", form); code != http.StatusSeeOther || !strings.Contains(loc, "moved") {
		t.Fatalf("stale remove: %d %s", code, loc)
	}
	form = formFor(t, page, "/queues/q", `value="dequeue"`)
	form.Set("class", "PHP_Drop")
	if code, loc, _ := e.post("/queues/q", form); code != http.StatusSeeOther || !strings.Contains(loc, "Dequeued+2") {
		t.Fatalf("dequeue: %d %s", code, loc)
	}
	left, _ := e.client.QueueRange(ctx, "q", 0, -1)
	if len(left) != 1 || left[0].Job.Class != "PHP_Keep" {
		t.Fatalf("left in q: %+v", left)
	}
}

// TestDelayedRunNowAndRemove acts on jobs php-resque-scheduler scheduled.
func TestDelayedRunNowAndRemove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.php("delay", "3600", "later", "PHP_Later", `{"n":1}`)
	e.php("delay", "7200", "later", "PHP_Much_Later", `{"n":2}`)
	page := e.mustGet("/delayed")
	jobs, err := e.client.DelayedRange(ctx, 0, -1)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("DelayedRange: %v %v", jobs, err)
	}
	run := formFor(t, page, "/delayed", `value="run"`)
	if code, loc, _ := e.post("/delayed", run); code != http.StatusSeeOther || !strings.Contains(loc, "Enqueued+1+PHP_Later") {
		t.Fatalf("run now: %d %s", code, loc)
	}
	got, _ := e.client.QueueRange(ctx, "later", 0, -1)
	if len(got) != 1 || got[0].Job.Class != "PHP_Later" || string(got[0].Job.Arg()) != `{"n":1}` || len(got[0].Job.ID) != 32 {
		t.Fatalf("run now queued %+v", got)
	}
	if n, _ := e.client.DelayedCount(ctx); n != 1 {
		t.Fatalf("delayed after run now: %d", n)
	}
	remove := formFor(t, e.mustGet("/delayed"), "/delayed", `value="remove"`)
	if code, loc, _ := e.post("/delayed", remove); code != http.StatusSeeOther || !strings.Contains(loc, "Removed+1") {
		t.Fatalf("remove: %d %s", code, loc)
	}
	if n, _ := e.client.DelayedCount(ctx); n != 0 {
		t.Fatalf("delayed after remove: %d", n)
	}
	if code, loc, _ := e.post("/delayed", remove); code != http.StatusSeeOther || !strings.Contains(loc, "moved") {
		t.Fatalf("stale delayed form: %d %s", code, loc)
	}
}

func TestPauseAndResume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	form := formFor(t, e.mustGet("/workers"), "/workers", `value="pause"`)
	if code, _, _ := e.post("/workers", form); code != http.StatusSeeOther {
		t.Fatalf("pause: %d", code)
	}
	if p, _ := e.client.Paused(ctx); !p {
		t.Fatal("not paused")
	}
	page := e.mustGet("/workers")
	if !strings.Contains(page, `class="tag paused"`) {
		t.Error("the page does not show the pause")
	}
	form = formFor(t, page, "/workers", `value="resume"`)
	if code, _, _ := e.post("/workers", form); code != http.StatusSeeOther {
		t.Fatalf("resume: %d", code)
	}
	if p, _ := e.client.Paused(ctx); p {
		t.Fatal("still paused")
	}
	if code, _, _ := e.post("/workers", url.Values{"action": {"explode"}}); code != http.StatusBadRequest {
		t.Errorf("unknown action: %d", code)
	}
}
