package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/goresque/goresque/resque"
)

// pageSize is how many jobs a queue, failed or delayed page lists.
const pageSize = 25

var funcs = template.FuncMap{
	"age":     fmtAge,
	"since":   func(now, t time.Time) string { return fmtAge(now.Sub(t).Seconds()) },
	"qpath":   func(q string) string { return "/queues/" + url.PathEscape(q) },
	"pretty":  func(b json.RawMessage) string { return indentJSON(b) },
	"sum":     sum,
	"add":     func(a, b int64) int64 { return a + b },
	"joinq":   func(q []string) string { return strings.Join(q, ", ") },
	"fmtTime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}

// sum names an entry of a list by its bytes: forms post (index, sum), and the action
// re-reads the entry at index and acts only when the sum still matches, so a list that
// moved under the page never makes us act on a different job.
func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// fmtAge formats seconds as "3m12s"-style text; negative means unknown.
func fmtAge(sec float64) string {
	if sec < 0 {
		return "–"
	}
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

var pageNames = []string{"overview", "queues", "queue", "workers", "failed", "delayed", "stats", "classes", "confirm"}

func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	for _, p := range pageNames {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return fmt.Errorf("web: template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	return nil
}

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string
	CSRF     string
	ReadOnly bool
	PollMS   int64
	Now      time.Time
	Snap     *snapshot
	Data     any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title string, snap *snapshot, data any) {
	if snap == nil {
		var err error
		if snap, err = s.snapshot(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	v := view{Title: title, Nav: name, CSRF: s.csrfToken(), ReadOnly: s.opt.ReadOnly, PollMS: s.opt.Poll.Milliseconds(), Now: snap.Time, Snap: snap, Data: data}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "overview", "Overview", nil, nil)
}

func (s *Server) queues(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "queues", "Queues", nil, nil)
}

// pager is the position of a paged list.
type pager struct {
	Start, Total int64
	Base         string // the page's URL with its filters, without start
}

func (p pager) End() int64 { return min(p.Start+pageSize, p.Total) }
func (p pager) Prev() string {
	if p.Start == 0 {
		return ""
	}
	return p.link(max(p.Start-pageSize, 0))
}
func (p pager) Next() string {
	if p.Start+pageSize >= p.Total {
		return ""
	}
	return p.link(p.Start + pageSize)
}
func (p pager) link(start int64) string {
	sep := "?"
	if strings.Contains(p.Base, "?") {
		sep = "&"
	}
	return p.Base + sep + "start=" + strconv.FormatInt(start, 10)
}

func startParam(r *http.Request) int64 {
	n, err := strconv.ParseInt(r.URL.Query().Get("start"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

type queueJobView struct {
	resque.QueuedJob
	Sum    string
	Pretty string
	Age    float64
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	snap, err := s.snapshot(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var size int64
	for _, q := range snap.Queues {
		if q.Name == name {
			size = q.Size
		}
	}
	p := pager{Start: startParam(r), Total: size, Base: "/queues/" + url.PathEscape(name)}
	jobs, err := s.opt.Client.QueueRange(r.Context(), name, p.Start, p.Start+pageSize-1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rows []queueJobView
	for _, j := range jobs {
		v := queueJobView{QueuedJob: j, Sum: sum(j.Raw), Pretty: indentJSON(j.Raw), Age: -1}
		if j.Job != nil && !j.Job.QueueTime.IsZero() {
			v.Age = snap.Time.Sub(j.Job.QueueTime).Seconds()
		}
		rows = append(rows, v)
	}
	s.render(w, r, "queue", "Queue "+name, snap, struct {
		Name  string
		Pager pager
		Jobs  []queueJobView
		Flash string
	}{name, p, rows, s.flash(r)})
}

// queueAction removes one job (by index and sum) or dequeues every job of a class.
func (s *Server) queueAction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	back := "/queues/" + url.PathEscape(name)
	switch r.PostFormValue("action") {
	case "remove":
		idx, err := strconv.ParseInt(r.PostFormValue("index"), 10, 64)
		if err != nil {
			http.Error(w, "bad index", http.StatusBadRequest)
			return
		}
		jobs, err := s.opt.Client.QueueRange(r.Context(), name, idx, idx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(jobs) != 1 || sum(jobs[0].Raw) != r.PostFormValue("sum") {
			s.redirect(w, r, back, "The job moved (a worker took it?): nothing removed.")
			return
		}
		n, err := s.opt.Client.RemoveQueued(r.Context(), name, jobs[0].Raw)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.redirect(w, r, back, fmt.Sprintf("Removed %d job.", n))
	case "dequeue":
		s.dequeue(w, r, name, back)
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

// redirect answers a POST with 303 to back, carrying a short message for the next page.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, back, flash string) {
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"flash="+url.QueryEscape(flash)+"&fs="+s.mac("flash", flash), http.StatusSeeOther)
}

// flash returns the message a redirect carried, when the dashboard wrote it: a link made
// elsewhere cannot put its own words on the page.
func (s *Server) flash(r *http.Request) string {
	q := r.URL.Query()
	msg := q.Get("flash")
	if msg == "" || !hmac.Equal([]byte(q.Get("fs")), []byte(s.mac("flash", msg))) {
		return ""
	}
	return msg
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "workers", "Workers", nil, struct{ Flash string }{s.flash(r)})
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "stats", "Stats", nil, nil)
}

// classRow is a row of the Classes page: resque.ClassInfo with its numbers formatted as
// `goresque classes` prints them, Go first, then PHP.
type classRow struct {
	resque.ClassInfo
	Impls []implCells
}

type implCells struct {
	Jobs, Failed         int64
	Rate, Time, P50, P95 string
}

func (s *Server) classes(w http.ResponseWriter, r *http.Request) {
	rep, err := s.opt.Client.Classes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := struct {
		Rows                      []classRow
		Sampled                   bool
		QueueSample, FailedSample int
	}{Sampled: rep.Sampled, QueueSample: rep.QueueSample, FailedSample: rep.FailedSample}
	for _, ci := range rep.Classes {
		row := classRow{ClassInfo: ci}
		for _, impl := range []string{resque.ImplGo, resque.ImplPHP} {
			st := ci.Impl(impl)
			row.Impls = append(row.Impls, implCells{Jobs: st.Jobs, Failed: st.Failed,
				Rate: fmt.Sprintf("%.1f%%", 100*st.FailureRate), Time: FormatSeconds(st.Seconds),
				P50: FormatSeconds(st.P50), P95: FormatSeconds(st.P95)})
		}
		data.Rows = append(data.Rows, row)
	}
	s.render(w, r, "classes", "Classes", nil, data)
}

// fmtSeconds prints a duration with about three significant digits: 2.31ms, 1m4s.
func FormatSeconds(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// liveView is the JSON the pages poll for their live parts (/api/overview).
type liveView struct {
	Time       float64        `json:"time"`
	Processed  int64          `json:"processed"`
	Failed     int64          `json:"failed"`
	Pending    int64          `json:"pending"`
	FailedList int64          `json:"failed_list"`
	Delayed    int64          `json:"delayed"`
	Paused     bool           `json:"paused"`
	Workers    map[string]int `json:"workers"`
	Queues     []queueRow     `json:"queues"`
}

func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := liveView{
		Time: float64(snap.Time.UnixMilli()) / 1000, Processed: snap.Stats.Processed, Failed: snap.Stats.Failed,
		Pending: snap.Stats.Pending, FailedList: snap.FailedLen, Delayed: snap.Delayed, Paused: snap.Paused,
		Workers: map[string]int{}, Queues: snap.Queues,
	}
	for _, st := range workerStates {
		v.Workers[st] = snap.States[st]
	}
	if v.Queues == nil {
		v.Queues = []queueRow{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
