package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// TestPagesShowRecordsOfPHPAndGoresque fills Redis with what real php-resque (a pushed
// job, a failure, a busy PHP worker, a delayed job) and goresque (a pushed job, a busy
// worker with a heartbeat) write, and checks each page shows it.
func TestPagesShowRecordsOfPHPAndGoresque(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var phpID string
	if err := json.Unmarshal(e.php("enqueue", "mail", "PHP_SendMail", `{"to":"a@example.com"}`), &phpID); err != nil || len(phpID) != 32 {
		t.Fatalf("Resque::enqueue id %q: %v", phpID, err)
	}
	goID, err := e.client.Enqueue(ctx, "mail", "Go_SendMail", map[string]any{"to": "b@example.com"}, resque.EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.php("fail", "reports", "PHP_Report", `{"day":"monday"}`, "disk full")
	var phpWorker string
	if err := json.Unmarshal(e.php("working", "slow", "PHP_Slow", `[]`), &phpWorker); err != nil {
		t.Fatal(err)
	}
	e.php("delay", "3600", "later", "PHP_Later", `{"n":1}`)

	running := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	e.startWorker("busy", func(ctx context.Context, j *resque.Job) error {
		close(running)
		<-release
		return nil
	})
	if _, err := e.client.Enqueue(ctx, "busy", "Go_Busy", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	<-running

	home := e.mustGet("/")
	for _, want := range []string{`href="/queues/mail"`, ">mail<", `data-live="processed"`, `id="chart-rate"`, `<canvas`} {
		if !strings.Contains(home, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	queues := e.mustGet("/queues")
	if !strings.Contains(queues, `<td class="num">2</td>`) {
		t.Errorf("/queues does not show mail's 2 jobs:\n%s", queues)
	}
	mail := e.mustGet("/queues/mail")
	for _, want := range []string{"PHP_SendMail", phpID, "Go_SendMail", goID, "a@example.com", "2 jobs"} {
		if !strings.Contains(mail, want) {
			t.Errorf("/queues/mail lacks %q", want)
		}
	}
	workers := e.mustGet("/workers")
	host, pid, _ := strings.Cut(phpWorker, ":")
	pid, _, _ = strings.Cut(pid, ":")
	for _, want := range []string{host + ":" + pid, "PHP_Slow", "gohost:", "Go_Busy", `class="tag busy"`, " ago</td>"} {
		if !strings.Contains(workers, want) {
			t.Errorf("/workers lacks %q:\n%s", want, workers)
		}
	}
	failed := e.mustGet("/failed")
	for _, want := range []string{"PHP_Report", "RuntimeException", "disk full", "monday", "backtrace", `action="/failed/retry"`} {
		if !strings.Contains(failed, want) {
			t.Errorf("/failed lacks %q", want)
		}
	}
	delayed := e.mustGet("/delayed")
	for _, want := range []string{"PHP_Later", `href="/queues/later"`, "in 59m", "1 delayed jobs"} {
		if !strings.Contains(delayed, want) {
			t.Errorf("/delayed lacks %q:\n%s", want, delayed)
		}
	}
	stats := e.mustGet("/stats")
	if !strings.Contains(stats, `<td data-live="failed_list">1</td>`) {
		t.Errorf("/stats does not count the failure:\n%s", stats)
	}

	var live liveView
	if err := json.Unmarshal([]byte(e.mustGet("/api/overview")), &live); err != nil {
		t.Fatal(err)
	}
	if live.Pending != 2 || live.FailedList != 1 || live.Delayed != 1 || live.Workers[stateBusy] != 2 {
		t.Errorf("live view = %+v, want pending 2, failed 1, delayed 1, 2 busy workers", live)
	}
}

// TestPayloadsAreEscaped: a payload with markup, pushed raw as Ruby would (PHP escapes the
// slash), is shown as text on every page that shows payloads, never run.
func TestPayloadsAreEscaped(t *testing.T) {
	e := newEnv(t)
	evil := `{"class":"<img src=x onerror=alert(1)>","args":[{"x":"<script>alert(1)</script>"}],"id":"x","queue_time":1700000000}`
	if _, err := e.conn.Do("SADD", e.keys.Queues(), "<b>q</b>"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Do("RPUSH", e.keys.Queue("<b>q</b>"), evil); err != nil {
		t.Fatal(err)
	}
	rec := `{"failed_at":"Tue Dec 01 19:20:58 UTC 2026","payload":` + evil + `,"exception":"<script>alert(2)</script>","error":"<i>boom</i>","backtrace":["<script>alert(3)</script>"],"worker":"h:1:q","queue":"<b>q</b>"}`
	if _, err := e.conn.Do("RPUSH", e.keys.Failed(), rec); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/queues", "/queues/" + url.PathEscape("<b>q</b>"), "/failed"} {
		body := e.mustGet(path)
		for _, bad := range []string{"<script>alert", "<img src=x", "<b>q</b>", "<i>boom"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains unescaped %q", path, bad)
			}
		}
	}
	if body := e.mustGet("/queues/" + url.PathEscape("<b>q</b>")); !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the payload is not shown escaped:\n%s", body)
	}
	if body := e.mustGet("/failed"); !strings.Contains(body, "&lt;script&gt;alert(3)&lt;/script&gt;") || !strings.Contains(body, "&lt;i&gt;boom&lt;/i&gt;") {
		t.Errorf("the failure is not shown escaped:\n%s", body)
	}
	// The JSON the live view reads is JSON, and the page's script writes it with textContent.
	resp, err := http.Get(e.http.URL + "/api/overview")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/api/overview Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("no CSP limiting scripts: %q", csp)
	}
}

func TestBasicAuth(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Password = "s3cret" })
	for _, path := range []string{"/", "/failed", "/metrics", "/api/overview", "/static/app.js"} {
		code, _ := e.get(path)
		if code != http.StatusUnauthorized {
			t.Errorf("GET %s without password: %d, want 401", path, code)
		}
	}
	try := func(user, pw string) int {
		req, _ := http.NewRequest("GET", e.http.URL+"/", nil)
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("401 without a Basic challenge")
		}
		return resp.StatusCode
	}
	if code := try("admin", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", code)
	}
	if code := try("root", "s3cret"); code != http.StatusUnauthorized {
		t.Errorf("wrong user: %d", code)
	}
	if code := try("admin", "s3cret"); code != http.StatusOK {
		t.Errorf("right password: %d", code)
	}

	other := newEnv(t, func(o *Options) { o.Password = "pw"; o.User = "ops" })
	req, _ := http.NewRequest("GET", other.http.URL+"/", nil)
	req.SetBasicAuth("ops", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GORESQUE_WEB_USER's user: %d", resp.StatusCode)
	}
}

// TestForgedPostIsRefused: a POST without the page's token, with a wrong one, or from
// another site (a browser's Sec-Fetch-Site) changes nothing.
func TestForgedPostIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.client.Enqueue(ctx, "q", "Job", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	form := formFor(t, e.mustGet("/queues/q"), "/queues/q", `value="remove"`)
	noToken := url.Values{}
	for k, v := range form {
		if k != "csrf" {
			noToken[k] = v
		}
	}
	wrong := url.Values{}
	for k, v := range noToken {
		wrong[k] = v
	}
	wrong.Set("csrf", strings.Repeat("0", 64))
	for name, c := range map[string]struct {
		form url.Values
		hdr  http.Header
	}{
		"no token":     {noToken, nil},
		"wrong token":  {wrong, nil},
		"cross-site":   {form, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		"other origin": {form, http.Header{"Origin": {"https://evil.example"}}},
	} {
		code, _, _ := e.postRaw("/queues/q", c.form, c.hdr)
		if code != http.StatusForbidden {
			t.Errorf("%s: POST answered %d, want 403", name, code)
		}
		if n := e.llen(e.keys.Queue("q")); n != 1 {
			t.Fatalf("%s: the forged POST removed the job", name)
		}
	}
	code, loc, body := e.postRaw("/queues/q", form, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/queues/q?flash=") {
		t.Fatalf("the page's own POST: %d %s %s", code, loc, body)
	}
	if n := e.llen(e.keys.Queue("q")); n != 0 {
		t.Fatalf("the page's own POST did not remove the job")
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ReadOnly = true })
	ctx := context.Background()
	if _, err := e.client.Enqueue(ctx, "q", "Job", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Do("RPUSH", e.keys.Failed(), `{"failed_at":"x","payload":{"class":"Job","args":[]},"exception":"E","error":"e","backtrace":[],"worker":"h:1:q","queue":"q"}`); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/queues/q", "/workers", "/failed", "/delayed"} {
		if body := e.mustGet(p); strings.Contains(body, `method="post"`) {
			t.Errorf("read-only %s shows a form that changes something", p)
		}
	}
	for _, p := range []string{"/queues/q", "/failed/retry", "/failed/bulk", "/delayed", "/workers"} {
		code, _, _ := e.post(p, url.Values{"action": {"remove"}, "index": {"0"}})
		if code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", p, code)
		}
	}
	if e.llen(e.keys.Queue("q")) != 1 || e.llen(e.keys.Failed()) != 1 {
		t.Fatal("a read-only dashboard changed Redis")
	}
}

// TestNoRedisPasswordInPages: against a Redis that needs a password, no page, metric or
// error page (after the server is gone) shows it.
func TestNoRedisPasswordInPages(t *testing.T) {
	const secret = "hunter2-redis-secret"
	srv := redistest.StartTB(t, redistest.Options{Args: []string{"--requirepass", secret}})
	pool := &redis.Pool{DialContext: func(ctx context.Context) (redis.Conn, error) {
		return redis.DialContext(ctx, "unix", srv.Socket, redis.DialPassword(secret))
	}}
	defer pool.Close()
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: "", Dialect: resque.DialectPHPResque136})
	if _, err := client.Enqueue(context.Background(), "q", "Job", map[string]string{"k": "v"}, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(s)
	defer h.Close()
	pages := []string{"/", "/queues", "/queues/q", "/workers", "/failed", "/delayed", "/stats", "/metrics", "/api/overview"}
	check := func(wantOK bool) {
		for _, p := range pages {
			resp, err := http.Get(h.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if wantOK && resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %d %s", p, resp.StatusCode, b)
			}
			if strings.Contains(string(b), secret) {
				t.Errorf("GET %s shows the Redis password", p)
			}
		}
	}
	check(true)
	srv.Stop()
	check(false)
}

// TestFlashOnlyFromTheDashboard: the message line after an action shows only what the
// dashboard itself redirected with, not text from a crafted link.
func TestFlashOnlyFromTheDashboard(t *testing.T) {
	e := newEnv(t)
	if body := e.mustGet("/workers?flash=" + url.QueryEscape("Session expired: log in at evil.example")); strings.Contains(body, "evil.example") {
		t.Fatal("a crafted link put its message on the page")
	}
	code, loc, _ := e.post("/workers", url.Values{"action": {"pause"}})
	if code != http.StatusSeeOther {
		t.Fatalf("pause: %d", code)
	}
	if body := e.mustGet(loc); !strings.Contains(body, `<p class="flash" role="status">Paused all workers.</p>`) {
		t.Fatalf("the dashboard's own message is not shown:\n%s", body)
	}
}
