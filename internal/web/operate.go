package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/goresque/goresque/resque"
)

// The pages and actions on failed and delayed jobs, dequeue and pause: all through
// resque.Client's operation API (the calls `goresque failed retry` and friends make).

func (s *Server) operateRoutes() {
	s.mux.HandleFunc("GET /failed", s.failed)
	s.mux.HandleFunc("GET /delayed", s.delayedPage)
	s.post("POST /failed/retry", s.failedOne(true))
	s.post("POST /failed/remove", s.failedOne(false))
	s.post("POST /failed/bulk", s.failedBulk)
	s.post("POST /delayed", s.delayedAction)
	s.post("POST /workers", s.pauseAction)
}

// readOperate adds what the operation API knows to a snapshot.
func (s *Server) readOperate(ctx context.Context, snap *snapshot) error {
	c := s.opt.Client
	var err error
	if snap.Paused, err = c.Paused(ctx); err != nil {
		return err
	}
	if snap.Delayed, err = c.DelayedCount(ctx); err != nil {
		return err
	}
	return nil
}

// failedFilter selects failure records: exact queue, class containing Class, exception
// class or message containing Exception (both case-insensitive).
type failedFilter struct{ Queue, Class, Exception string }

func filterOf(v url.Values) failedFilter {
	return failedFilter{strings.TrimSpace(v.Get("queue")), strings.TrimSpace(v.Get("class")), strings.TrimSpace(v.Get("exception"))}
}

func (f failedFilter) Any() bool { return f.Queue != "" || f.Class != "" || f.Exception != "" }

func (f failedFilter) match(j resque.FailedJob) bool {
	if f.Queue != "" && j.Queue != f.Queue {
		return false
	}
	if f.Class != "" && !strings.Contains(strings.ToLower(j.Class), strings.ToLower(f.Class)) {
		return false
	}
	if f.Exception != "" {
		e := strings.ToLower(f.Exception)
		if !strings.Contains(strings.ToLower(j.Exception), e) && !strings.Contains(strings.ToLower(j.Error), e) {
			return false
		}
	}
	return true
}

func (f failedFilter) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"queue": f.Queue, "class": f.Class, "exception": f.Exception} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return "/failed"
	}
	return "/failed?" + v.Encode()
}

// scanChunk is how many failure records one LRANGE reads when a filter scans the list.
const scanChunk = 500

// scanFailed calls fn for every record of the failed list matching f, in list order.
func (s *Server) scanFailed(ctx context.Context, f failedFilter, fn func(resque.FailedJob)) error {
	for start := int64(0); ; start += scanChunk {
		jobs, err := s.opt.Client.FailedRange(ctx, start, start+scanChunk-1)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if f.match(j) {
				fn(j)
			}
		}
		if len(jobs) < scanChunk {
			return nil
		}
	}
}

func (s *Server) failed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := filterOf(r.URL.Query())
	p := pager{Start: startParam(r), Base: f.query()}
	var jobs []resque.FailedJob
	if !f.Any() {
		n, err := s.opt.Client.FailedCount(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Total = n
		if jobs, err = s.opt.Client.FailedRange(ctx, p.Start, p.Start+pageSize-1); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		err := s.scanFailed(ctx, f, func(j resque.FailedJob) {
			if p.Total >= p.Start && p.Total < p.Start+pageSize {
				jobs = append(jobs, j)
			}
			p.Total++
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	back := p.link(p.Start)
	s.render(w, r, "failed", "Failed jobs", nil, struct {
		Filter failedFilter
		Pager  pager
		Jobs   []resque.FailedJob
		Flash  string
		Back   string
	}{f, p, jobs, s.flash(r), back})
}

// backTo returns the form's back link when it is one of the failed pages, else /failed:
// a redirect never leaves the dashboard.
func backTo(r *http.Request, prefix string) string {
	b := r.PostFormValue("back")
	if b == "" || !strings.HasPrefix(b, prefix) || strings.HasPrefix(b, "//") {
		return prefix
	}
	// Drop a previous flash message.
	if u, err := url.Parse(b); err == nil {
		q := u.Query()
		q.Del("flash")
		q.Del("fs")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return prefix
}

// failedAt re-reads the record at the posted index and checks it is the one the page
// showed (same sum).
func (s *Server) failedAt(r *http.Request) (resque.FailedJob, bool, error) {
	idx, err := strconv.ParseInt(r.PostFormValue("index"), 10, 64)
	if err != nil || idx < 0 {
		return resque.FailedJob{}, false, nil
	}
	jobs, err := s.opt.Client.FailedRange(r.Context(), idx, idx)
	if err != nil {
		return resque.FailedJob{}, false, err
	}
	if len(jobs) != 1 || sum(jobs[0].Raw) != r.PostFormValue("sum") {
		return resque.FailedJob{}, false, nil
	}
	return jobs[0], true, nil
}

func (s *Server) failedOne(retry bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		back := backTo(r, "/failed")
		j, ok, err := s.failedAt(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			s.redirect(w, r, back, "That failed job moved or is gone (reload): nothing done.")
			return
		}
		if retry {
			err = s.opt.Client.RetryFailed(r.Context(), j)
		} else {
			err = s.opt.Client.RemoveFailed(r.Context(), j)
		}
		switch {
		case errors.Is(err, resque.ErrFailedMoved):
			s.redirect(w, r, back, "That failed job moved or is gone (reload): nothing done.")
		case err != nil:
			s.fail(w, r, err)
		case retry:
			s.redirect(w, r, back, fmt.Sprintf("Retried %s: pushed to %s.", j.Class, j.Queue))
		default:
			s.redirect(w, r, back, fmt.Sprintf("Removed the failed %s.", j.Class))
		}
	}
}

type formField struct{ Name, Value string }

// failedBulk retries or removes every record matching the posted filter, after a
// confirmation page that says how many.
func (s *Server) failedBulk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := filterOf(r.PostForm)
	action := r.PostFormValue("action")
	if action != "retry" && action != "remove" {
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	var matches []resque.FailedJob
	if err := s.scanFailed(ctx, f, func(j resque.FailedJob) { matches = append(matches, j) }); err != nil {
		s.fail(w, r, err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		what := "all failed jobs"
		if f.Any() {
			what = "the failed jobs matching"
			if f.Queue != "" {
				what += " queue=" + f.Queue
			}
			if f.Class != "" {
				what += " class~" + f.Class
			}
			if f.Exception != "" {
				what += " exception~" + f.Exception
			}
		}
		verb, class := "Retry", ""
		if action == "remove" {
			verb, class = "Remove", "danger"
		}
		s.render(w, r, "confirm", verb+" failed jobs", nil, struct {
			Action, Question, Button, Class, Back string
			Fields                                []formField
		}{
			Action:   "/failed/bulk",
			Question: fmt.Sprintf("%s %d jobs: %s?", verb, len(matches), what),
			Button:   fmt.Sprintf("%s %d jobs", verb, len(matches)), Class: class, Back: f.query(),
			Fields: []formField{{"action", action}, {"queue", f.Queue}, {"class", f.Class}, {"exception", f.Exception}},
		})
		return
	}
	var done int
	var err error
	if action == "retry" {
		done, err = s.opt.Client.RetryFailedJobs(ctx, matches)
	} else {
		done, err = s.opt.Client.RemoveFailedJobs(ctx, matches)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Retried %d jobs.", done)
	if action == "remove" {
		msg = fmt.Sprintf("Removed %d jobs.", done)
	}
	if skipped := len(matches) - done; skipped > 0 {
		msg += fmt.Sprintf(" %d had moved or gone and were skipped.", skipped)
	}
	back := f.query()
	if action == "remove" {
		back = "/failed"
	}
	s.redirect(w, r, back, msg)
}

type delayedView struct {
	resque.DelayedJob
	Index int64
}

func (s *Server) delayedPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	snap, err := s.snapshot(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := pager{Start: startParam(r), Total: snap.Delayed, Base: "/delayed"}
	jobs, err := s.opt.Client.DelayedRange(ctx, p.Start, p.Start+pageSize-1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := make([]delayedView, len(jobs))
	for i, j := range jobs {
		rows[i] = delayedView{j, p.Start + int64(i)}
	}
	s.render(w, r, "delayed", "Delayed jobs", snap, struct {
		Pager pager
		Jobs  []delayedView
		Flash string
	}{p, rows, s.flash(r)})
}

// delayedArgs returns the args a delayed item was scheduled with (its "args"[0], as
// ResqueScheduler::enqueueAt stores them), the value RemoveDelayedAt and Enqueue take.
func delayedArgs(args json.RawMessage) any {
	var a []json.RawMessage
	if json.Unmarshal(args, &a) != nil || len(a) == 0 {
		return nil
	}
	return a[0]
}

// delayedAction runs a delayed job now (removes it from the schedule and enqueues it as
// the scheduler would) or removes it.
func (s *Server) delayedAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	idx, err := strconv.ParseInt(r.PostFormValue("index"), 10, 64)
	if err != nil || idx < 0 {
		http.Error(w, "bad index", http.StatusBadRequest)
		return
	}
	jobs, err := s.opt.Client.DelayedRange(ctx, idx, idx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(jobs) != 1 || sum(jobs[0].Payload) != r.PostFormValue("sum") || strconv.FormatInt(jobs[0].At.Unix(), 10) != r.PostFormValue("at") {
		s.redirect(w, r, "/delayed", "That delayed job moved or ran (reload): nothing done.")
		return
	}
	j := jobs[0]
	args := delayedArgs(j.Args)
	action := r.PostFormValue("action")
	if action != "run" && action != "remove" {
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	n, err := s.opt.Client.RemoveDelayedAt(ctx, j.At, j.Queue, j.Class, args)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if action == "remove" {
		s.redirect(w, r, "/delayed", fmt.Sprintf("Removed %d delayed %s.", n, j.Class))
		return
	}
	// RemoveDelayedAt removed the identical items due at that second (a scheduler takes
	// them all then too); run each now, as the scheduler would have when they came due.
	for range n {
		if _, err := s.opt.Client.Enqueue(ctx, j.Queue, j.Class, args, resque.EnqueueOptions{}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.redirect(w, r, "/delayed", fmt.Sprintf("Enqueued %d %s on %s now.", n, j.Class, j.Queue))
}

func (s *Server) dequeue(w http.ResponseWriter, r *http.Request, queue, back string) {
	class := strings.TrimSpace(r.PostFormValue("class"))
	if class == "" {
		http.Error(w, "class is required", http.StatusBadRequest)
		return
	}
	n, err := s.opt.Client.Dequeue(r.Context(), queue, class, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.redirect(w, r, back, fmt.Sprintf("Dequeued %d %s jobs.", n, class))
}

func (s *Server) pauseAction(w http.ResponseWriter, r *http.Request) {
	var err error
	msg := ""
	switch r.PostFormValue("action") {
	case "pause":
		err, msg = s.opt.Client.Pause(r.Context()), "Paused all workers."
	case "resume":
		err, msg = s.opt.Client.Resume(r.Context()), "Resumed all workers."
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.redirect(w, r, "/workers", msg)
}
