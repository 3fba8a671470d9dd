package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

var (
	testServer    *redistest.Server
	testServerErr error
)

func TestMain(m *testing.M) {
	testServer, testServerErr = redistest.Start(redistest.Options{TCP: true})
	code := m.Run()
	stopChromium()
	if testServer != nil {
		testServer.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// env is one test's Redis namespace, client and dashboard.
type env struct {
	t      *testing.T
	pool   *redis.Pool
	conn   redis.Conn
	ns     string
	keys   resque.Keys
	client *resque.Client
	srv    *Server
	http   *httptest.Server
}

func newEnv(t *testing.T, opts ...func(*Options)) *env {
	t.Helper()
	if testServer == nil {
		redistest.Unavailable(t, testServerErr)
	}
	pool := testServer.Pool()
	t.Cleanup(func() { pool.Close() })
	conn := pool.Get()
	t.Cleanup(func() { conn.Close() })
	ns := redistest.Namespace(t)
	e := &env{t: t, pool: pool, conn: conn, ns: ns, keys: resque.NewKeys(ns), client: resque.NewClient(pool, resque.ClientConfig{Namespace: ns, Dialect: resque.DialectPHPResque1})}
	o := Options{Client: e.client, Logger: zerolog.New(zerolog.NewTestWriter(t)), Poll: 200 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv)
	t.Cleanup(e.http.Close)
	return e
}

// thirdparty returns ../shared/thirdparty (real php-resque and php-resque-scheduler) and
// checks php is installed; outside CI a missing piece skips the test, under CI it fails.
func thirdparty(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "thirdparty"))
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "php-resque-1", "lib", "Resque.php"))
	}
	if err == nil {
		_, err = exec.LookPath("php")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real php-resque is needed under CI=true: %v", err)
		}
		t.Skipf("real php-resque unavailable (../shared/thirdparty and php): %v", err)
	}
	return dir
}

// php runs testdata/seed.php, which writes records with real php-resque.
func (e *env) php(action string, args ...string) json.RawMessage {
	e.t.Helper()
	tp := thirdparty(e.t)
	cmdArgs := append([]string{"-d", "error_reporting=22527", filepath.Join("testdata", "seed.php"), tp,
		"127.0.0.1:" + strconv.Itoa(testServer.Port), e.ns, action}, args...)
	out, err := exec.Command("php", cmdArgs...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			e.t.Fatalf("php seed.php %s: %v: %s%s", action, err, out, ee.Stderr)
		}
		e.t.Fatalf("php seed.php %s: %v", action, err)
	}
	return out
}

func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.http.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) mustGet(path string) string {
	e.t.Helper()
	code, body := e.get(path)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

// post submits a form the way the page does, with the page's CSRF token, and follows
// nothing: it returns the status and the redirect target.
func (e *env) post(path string, form url.Values) (int, string, string) {
	e.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", e.srv.csrfToken())
	}
	return e.postRaw(path, form, nil)
}

func (e *env) postRaw(path string, form url.Values, hdr http.Header) (int, string, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func (e *env) llen(key string) int {
	e.t.Helper()
	n, err := redis.Int(e.conn.Do("LLEN", key))
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// formFor finds the hidden fields of the first form in body whose action is action and
// that contains marker (e.g. the sum of a job), as a browser would submit them.
func formFor(t *testing.T, body, action, marker string) url.Values {
	t.Helper()
	re := regexp.MustCompile(`(?s)<form method="post" action="` + regexp.QuoteMeta(action) + `"[^>]*>(.*?)</form>`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		if !strings.Contains(m[1], marker) {
			continue
		}
		v := url.Values{}
		for _, f := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(m[1], -1) {
			v.Set(f[1], htmlUnescape(f[2]))
		}
		return v
	}
	t.Fatalf("no form posting to %s with %q in:\n%s", action, marker, body)
	return nil
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&#43;", "+").Replace(s)
}

// startWorker runs a goresque worker on queue whose handler blocks until release is
// closed; it returns when the worker has registered.
func (e *env) startWorker(queue string, h resque.HandlerFunc) func() {
	e.t.Helper()
	w, err := resque.NewWorker(e.pool, resque.Config{
		Namespace: e.ns, Queues: []string{queue}, Interval: 50 * time.Millisecond, Handler: h,
		Logger: zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.InfoLevel), Hostname: "gohost",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := redis.Int(e.conn.Do("SCARD", e.keys.Workers()))
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatal("goresque worker did not register")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("worker: %v", err)
		}
	}
	e.t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
