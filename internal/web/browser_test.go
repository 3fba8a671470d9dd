package web

// Browser tests: Debian's chromium, headless, driven by chromedp, against the real
// dashboard and Redis. GORESQUE_SCREENSHOTS=DIR writes the README's screenshots there
// (overview.png, failed.png, phone.png).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/goresque/goresque/resque"
)

// chromium is one headless browser shared by the browser tests (it takes seconds to start
// on a busy machine); each test gets its own tab. stopChromium ends it (TestMain).
var chromium struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func stopChromium() {
	if chromium.cancel != nil {
		chromium.cancel()
	}
}

// browser opens a tab of width×height in the shared headless chromium; a missing chromium
// skips the test outside CI and fails it under CI=true.
func browser(t *testing.T, width, height int64) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is needed under CI=true (scripts/setup.sh installs it): %v", err)
		}
		t.Skipf("chromium not installed: %v", err)
	}
	chromium.once.Do(func() {
		dir, err := os.MkdirTemp("", "chromium")
		if err != nil {
			chromium.err = err
			return
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path),
			chromedp.Flag("headless", true),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.NoFirstRun,
			chromedp.Flag("hide-scrollbars", true),
			chromedp.UserDataDir(dir),
		)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		chromium.ctx = ctx
		chromium.cancel = func() {
			cancelCtx()
			cancelAlloc()
			os.RemoveAll(dir)
		}
		chromium.err = chromedp.Do(ctx)
	})
	if chromium.err != nil {
		t.Fatalf("start chromium: %v", chromium.err)
	}
	tab, cancelTab := chromedp.NewContext(chromium.ctx)
	tab, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
	})
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// screenshot writes the page to $GORESQUE_SCREENSHOTS/name when that is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("GORESQUE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// liveOK waits until the page's script has polled /api/overview successfully.
var liveOK = chromedp.WaitVisible(chromedp.CSS(`#live.ok`))

// text navigates nowhere: it returns the text of the first element matching css.
func text(t *testing.T, b context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

// TestBrowserPagesRenderAndRetry: every page renders in a real browser with its script
// running, and the Retry button of the failed page requeues the job.
func TestBrowserPagesRenderAndRetry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	seedShowcase(t, e)
	b := browser(t, 1280, 900)

	for _, p := range []struct{ path, h1 string }{
		{"/", "Overview"}, {"/queues", "Queues"}, {"/queues/mail", "Queue mail"}, {"/workers", "Workers"},
		{"/failed", "Failed jobs"}, {"/delayed", "Delayed jobs"}, {"/stats", "Stats"}, {"/classes", "Classes"},
	} {
		if err := chromedp.Do(b, chromedp.Navigate(e.http.URL+p.path), liveOK); err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		h1 := text(t, b, "h1")
		if h1 != p.h1 {
			t.Errorf("%s: h1 %q, want %q", p.path, h1, p.h1)
		}
		switch p.path {
		case "/":
			// Let the chart collect a few points of the worker's throughput.
			time.Sleep(3 * time.Second)
			screenshot(t, b, "overview.png")
		case "/failed":
			screenshot(t, b, "failed.png")
		}
	}

	failed, err := e.client.FailedRange(ctx, 0, 0)
	if err != nil || len(failed) != 1 {
		t.Fatalf("FailedRange: %v %v", failed, err)
	}
	queue := failed[0].Queue
	before := e.llen(e.keys.Queue(queue))
	if err := chromedp.Do(b,
		chromedp.Navigate(e.http.URL+"/failed"),
		chromedp.Click(chromedp.CSS(`li[data-index="0"] button.retry`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	); err != nil {
		t.Fatal(err)
	}
	flash := text(t, b, ".flash")
	if !strings.HasPrefix(flash, "Retried "+failed[0].Class) {
		t.Errorf("flash after retry: %q", flash)
	}
	if n := e.llen(e.keys.Queue(queue)); n != before+1 {
		t.Fatalf("retry from the page: %s has %d jobs, want %d", queue, n, before+1)
	}
	got, _ := e.client.QueueRange(ctx, queue, -1, -1)
	if string(got[0].Raw) != string(failed[0].Payload) {
		t.Fatalf("requeued %s, want the failed payload %s", got[0].Raw, failed[0].Payload)
	}
}

// TestBrowserLiveViewUpdates: the overview's counters and queue table change after a job
// completes, without a reload.
func TestBrowserLiveViewUpdates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := browser(t, 1024, 768)
	if err := chromedp.Do(b, chromedp.Navigate(e.http.URL+"/"), liveOK); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b, chromedp.Evaluate[string](`window.__notReloaded = "yes"`)); err != nil {
		t.Fatal(err)
	}
	processed := text(t, b, `.cards [data-live="processed"]`)
	if processed != "0" {
		t.Fatalf("processed before: %q", processed)
	}
	if _, err := e.client.Enqueue(ctx, "live", "Go_Live", nil, resque.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b, chromedp.Poll[bool](`document.querySelector("#queues tbody").textContent.includes("live")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the queue table did not show the new queue: %v", err)
	}
	done := make(chan struct{})
	e.startWorker("live", func(ctx context.Context, j *resque.Job) error { close(done); return nil })
	<-done
	if _, err := chromedp.Run(b, chromedp.Poll[bool](`document.querySelector('.cards [data-live="processed"]').textContent === "1"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("processed did not become 1 on the page: %v", err)
	}
	marker, err := chromedp.Run(b, chromedp.Evaluate[string](`window.__notReloaded`))
	if err != nil {
		t.Fatal(err)
	}
	rows := text(t, b, "#queues tbody")
	if marker != "yes" {
		t.Fatal("the page reloaded")
	}
	if !strings.Contains(rows, "live") {
		t.Errorf("queue rows: %q", rows)
	}
}

// TestBrowserPhoneWidth: at a phone's width no page scrolls sideways.
func TestBrowserPhoneWidth(t *testing.T) {
	e := newEnv(t)
	seedShowcase(t, e)
	b := browser(t, 390, 844) // emulated: headless chromium's window is at least 500px wide
	for _, p := range []string{"/", "/queues", "/queues/mail", "/workers", "/failed", "/delayed", "/stats", "/classes"} {
		if err := chromedp.Do(b, chromedp.Navigate(e.http.URL+p), liveOK); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		wide, err := chromedp.Run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if wide > 390 {
			t.Errorf("%s is %dpx wide on a 390px screen", p, wide)
		}
		if p == "/failed" {
			screenshot(t, b, "phone.png")
		}
	}
}

// seedShowcase writes a realistic mix: jobs pushed by php-resque and goresque on several
// queues, a PHP worker busy, a goresque worker processing a stream of jobs, failures from
// php-resque, delayed jobs from php-resque-scheduler.
func seedShowcase(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	e.php("fail", "reports", "App_Jobs_MonthlyReport", `{"month":"2026-11"}`, "SQLSTATE[HY000] [2002] Connection refused")
	e.php("fail", "mail", "App_Jobs_SendMail", `{"to":"<script>alert(1)</script>"}`, "Expected response code 250 but got 550")
	for i := range 5 {
		e.php("enqueue", "mail", "App_Jobs_SendMail", fmt.Sprintf(`{"to":"user%d@example.com"}`, i))
	}
	e.php("working", "pdf", "App_Jobs_RenderInvoice", `{"invoice":1042}`)
	e.php("delay", "900", "mail", "App_Jobs_Reminder", `{"user":7}`)
	for i := range 12 {
		if _, err := e.client.Enqueue(ctx, "images", "Go_Thumbnail", map[string]any{"id": i}, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 600 {
		if _, err := e.client.Enqueue(ctx, "stream", "Go_Event", map[string]any{"n": strconv.Itoa(i)}, resque.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.startWorker("stream", func(ctx context.Context, j *resque.Job) error {
		select {
		case <-time.After(30 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return errors.New("stopped")
		}
	})
}
