package compat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// The bridge tests run real php (Debian's php-cli) on the PHP application in
// testdata/phpapp. Without php they skip, except under CI=true, where they fail.
func needPHP(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("PHP subprocess tests are skipped with -short")
	}
	if _, err := exec.LookPath("php"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("php not found under CI=true: %v", err)
		}
		t.Skipf("php not found: %v", err)
	}
}

func app(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "testdata", "phpapp", name))
	return p
}

type model struct {
	name      string
	mode      Mode
	isolation Isolation
}

var models = []model{
	{"per-job", ModePerJob, IsolationFork},
	{"pool-fork", ModePool, IsolationFork},
	{"pool-none", ModePool, IsolationNone},
}

func newPHP(t *testing.T, m model, mut func(*Config)) *PHP {
	t.Helper()
	needPHP(t)
	cfg := Config{
		AppInclude: app("bootstrap.php"),
		Mode:       m.mode,
		Isolation:  m.isolation,
		KillGrace:  time.Second,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)),
	}
	if mut != nil {
		mut(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func job(t *testing.T, class string, args string) *resque.Job {
	t.Helper()
	payload := fmt.Sprintf(`{"class":%q,"args":[%s],"id":"%s","queue_time":1795727497.5}`, class, args, resque.NewJobID())
	j, err := resque.NewJob("default", []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	j.Worker = "testhost:1:default"
	return j
}

func perform(t *testing.T, p *PHP, j *resque.Job) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Perform(ctx, j)
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newPHP(t, m, nil)
			for _, tc := range []struct {
				class, args string
				exception   string // JobError exception; "" for success
				message     string
				result      string
				dontPerform bool
			}{
				{class: "Php_Succeed", args: `{"name":"ann"}`, result: `"php:ann"`},
				{class: "Php_Throw", args: `{"message":"boom"}`, exception: "RuntimeException", message: "boom"},
				{class: "Php_Error", args: `{}`, exception: "Error", message: "Call to undefined function goresque_no_such_function()"},
				{class: "Php_Fatal", args: `{}`, exception: resque.ExceptionDirtyExit, message: "Job exited with exit code 255"},
				{class: "Php_Exit", args: `{"code":3}`, exception: resque.ExceptionDirtyExit, message: "Job exited with exit code 3"},
				{class: "Php_DontPerform", args: `{}`, dontPerform: true},
				{class: "Legacy_NotPorted", args: `{"n":1}`, exception: "Resque_Exception", message: "Could not find job class Legacy_NotPorted."},
				{class: "Php_Output", args: `null`, result: `"printed"`},
				{class: "Php_Exit", args: `{"code":0}`}, // exit(0) is a success for php-resque
			} {
				j := job(t, tc.class, tc.args)
				err := perform(t, p, j)
				var je *resque.JobError
				switch {
				case tc.dontPerform:
					if !errors.Is(err, resque.ErrDontPerform) {
						t.Errorf("%s: %v, want DontPerform", tc.class, err)
					}
				case tc.exception != "":
					if !errors.As(err, &je) || je.Exception != tc.exception || je.Message != tc.message {
						t.Errorf("%s: %v, want %s: %s", tc.class, err, tc.exception, tc.message)
						continue
					}
					if tc.exception != resque.ExceptionDirtyExit {
						bt := strings.Join(je.Backtrace, "\n")
						if !strings.HasPrefix(bt, "#0 ") || !strings.HasSuffix(bt, "{main}") {
							t.Errorf("%s: backtrace %q", tc.class, bt)
						}
					}
				default:
					if err != nil {
						t.Errorf("%s: %v", tc.class, err)
					}
					if r, _ := j.Result(); tc.result != "" && fmt.Sprint(string(r.(json.RawMessage))) != tc.result {
						t.Errorf("%s: result %s, want %s", tc.class, r, tc.result)
					}
				}
			}
			// The pool survives every outcome above: a job still runs.
			if err := perform(t, p, job(t, "Php_Succeed", `{"name":"after"}`)); err != nil {
				t.Errorf("after the others: %v", err)
			}
		})
	}
}

// php-resque-1 does not catch PHP's Error: its child dies with exit code 255 (golden 10).
func TestErrorInPHPResque1Dialect(t *testing.T) {
	t.Parallel()
	p := newPHP(t, models[1], func(c *Config) { c.Dialect = resque.DialectPHPResque1 })
	err := perform(t, p, job(t, "Php_Error", `{}`))
	var je *resque.JobError
	if !errors.As(err, &je) || je.Exception != resque.ExceptionDirtyExit || je.Message != "Job exited with exit code 255" {
		t.Fatalf("%v", err)
	}
}

func TestLifecycleAndJobShape(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		for _, withResque := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/php-resque=%v", m.name, withResque), func(t *testing.T) {
				t.Parallel()
				p := newPHP(t, m, func(c *Config) {
					if withResque {
						c.AppInclude = app("bootstrap-with-resque.php")
					}
				})
				file := filepath.Join(t.TempDir(), "out.json")
				j := job(t, "Php_Lifecycle", fmt.Sprintf(`{"file":%q,"n":1}`, file))
				if err := perform(t, p, j); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				var got struct {
					Calls []string `json:"calls"`
					Seen  struct {
						Queue     string         `json:"queue"`
						Args      map[string]any `json:"args"`
						JobClass  string         `json:"job_class"`
						JobQueue  string         `json:"job_queue"`
						JobID     string         `json:"job_id"`
						Arguments map[string]any `json:"arguments"`
					} `json:"seen"`
				}
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatalf("%v: %s", err, b)
				}
				if strings.Join(got.Calls, ",") != "setUp,perform,tearDown" {
					t.Errorf("calls %v", got.Calls)
				}
				wantClass := `Goresque\Bridge\Job`
				if withResque {
					wantClass = "Resque_Job"
				}
				s := got.Seen
				if s.Queue != "default" || s.JobQueue != "default" || s.JobID != j.ID || s.JobClass != wantClass ||
					s.Args["file"] != file || s.Arguments["file"] != file {
					t.Errorf("the job saw %+v", s)
				}
			})
		}
	}
}

// TestIsolation shows what each model isolates: fork and per-job run every job in a fresh
// process (static state starts over); none keeps one warm process.
func TestIsolation(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newPHP(t, m, nil)
			pids := map[float64]bool{}
			var last float64
			for range 3 {
				j := job(t, "Php_State", `{}`)
				if err := perform(t, p, j); err != nil {
					t.Fatal(err)
				}
				r, _ := j.Result()
				var st struct{ PID, Count float64 }
				if err := json.Unmarshal(r.(json.RawMessage), &st); err != nil {
					t.Fatal(err)
				}
				pids[st.PID] = true
				last = st.Count
			}
			if m.isolation == IsolationNone && m.mode == ModePool {
				if len(pids) != 1 || last != 3 {
					t.Errorf("warm process without isolation: pids %v, count %v", pids, last)
				}
			} else if len(pids) != 3 || last != 1 {
				t.Errorf("isolated: pids %v, count %v", pids, last)
			}
		})
	}
}

func TestTimeoutKillsTheJob(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			// The limit covers the next job's php start too (per-job, or a warm process
			// replacing the killed one): long enough for that on a loaded machine.
			p := newPHP(t, m, func(c *Config) { c.Timeout = 3 * time.Second })
			start := time.Now()
			err := perform(t, p, job(t, "Php_Sleep", `{"seconds":30}`))
			var je *resque.JobError
			if !errors.As(err, &je) || je.Exception != resque.ExceptionDirtyExit || !strings.Contains(je.Message, "timed out after 3s") {
				t.Fatalf("%v", err)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %v", d)
			}
			if err := perform(t, p, job(t, "Php_Succeed", `{"name":"next"}`)); err != nil {
				t.Errorf("next job: %v", err)
			}
		})
	}
}

func TestCancelKillsTheJob(t *testing.T) {
	t.Parallel()
	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			t.Parallel()
			p := newPHP(t, models[1], nil)
			if warm { // else the kill comes while the lazy pool starts its first process
				if err := perform(t, p, job(t, "Php_Succeed", `{"name":"warm"}`)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(300*time.Millisecond, func() { cancel(errors.New("worker received SIGUSR1")) })
			err := p.Perform(ctx, job(t, "Php_Sleep", `{"seconds":30}`))
			var je *resque.JobError
			if !errors.As(err, &je) || je.Message != "Job exited abnormally: worker received SIGUSR1" {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestRecycling(t *testing.T) {
	t.Parallel()
	t.Run("max jobs", func(t *testing.T) {
		t.Parallel()
		p := newPHP(t, model{"pool-none", ModePool, IsolationNone}, func(c *Config) { c.MaxJobs = 2 })
		var counts []string
		for range 5 {
			j := job(t, "Php_State", `{}`)
			if err := perform(t, p, j); err != nil {
				t.Fatal(err)
			}
			r, _ := j.Result()
			var st struct{ Count int }
			_ = json.Unmarshal(r.(json.RawMessage), &st)
			counts = append(counts, fmt.Sprint(st.Count))
		}
		if strings.Join(counts, ",") != "1,2,1,2,1" {
			t.Errorf("counts %v: want a fresh process every 2 jobs", counts)
		}
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		p := newPHP(t, model{"pool-none", ModePool, IsolationNone}, func(c *Config) { c.MaxMemory = 40 << 20 })
		var counts []string
		for range 8 {
			j := job(t, "Php_Leak", `{}`)
			if err := perform(t, p, j); err != nil {
				t.Fatal(err)
			}
			r, _ := j.Result()
			counts = append(counts, string(r.(json.RawMessage)))
		}
		if !strings.Contains(strings.Join(counts, ","), ",1,") {
			t.Errorf("leak counts %v: the leaking process was never recycled", counts)
		}
	})
	t.Run("crash", func(t *testing.T) {
		t.Parallel()
		p := newPHP(t, model{"pool-none", ModePool, IsolationNone}, nil)
		_ = perform(t, p, job(t, "Php_Exit", `{"code":9}`))
		if err := perform(t, p, job(t, "Php_Succeed", `{"name":"x"}`)); err != nil {
			t.Errorf("after a crash: %v", err)
		}
	})
}

func TestStartupErrors(t *testing.T) {
	t.Parallel()
	needPHP(t)
	_, err := New(Config{Binary: "php-no-such-binary"})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing php: %v", err)
	}
	for _, m := range models[:2] {
		for _, tc := range []struct{ include, want string }{
			{app("no-such-file.php"), "does not exist"},
			{app("bootstrap-broken.php"), "database config missing"},
		} {
			p, err := New(Config{AppInclude: tc.include, Mode: m.mode, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Check(context.Background())
			p.Close()
			if !errors.Is(err, ErrAppInclude) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: %v", m.name, tc.include, err)
			}
		}
	}
}

// What a job prints is logged, line by line, with the job's id.
func TestOutputIsLoggedWithTheJobID(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			p := newPHP(t, m, func(c *Config) { c.Logger = zerolog.New(&buf) })
			j := job(t, "Php_Output", `null`)
			if err := perform(t, p, j); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(buf.String(), "line on stderr") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			for _, want := range []string{
				`"job_id":"` + j.ID + `","stream":"stdout"`,
				`"message":"line on stdout"`,
				`"stream":"stderr"`,
				`"message":"line on stderr"`,
			} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("log lacks %s:\n%s", want, buf.String())
				}
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLine is one line the bridge logged for a job's output.
type logLine struct {
	JobID   string `json:"job_id"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
}

func outputLines(t *testing.T, buf *syncBuffer) []logLine {
	t.Helper()
	var lines []logLine
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var ll logLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if ll.Stream != "" {
			lines = append(lines, ll)
		}
	}
	return lines
}

// The seed tutorial's HelloJob prints "Hello world" without a newline: each job's output is
// logged when the job ends (before Perform returns), attributed to that job, partial last
// line included. It was held until the warm process exited, as one line for all jobs.
func TestPartialOutputIsLoggedPerJob(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			p := newPHP(t, m, func(c *Config) { c.Logger = zerolog.New(&buf) })
			for i := range 3 {
				j := job(t, "HelloJob", `{}`)
				if err := perform(t, p, j); err != nil {
					t.Fatal(err)
				}
				lines := outputLines(t, &buf)
				if len(lines) != i+1 {
					t.Fatalf("after job %d, %d output lines logged: %+v", i+1, len(lines), lines)
				}
				if l := lines[i]; l.JobID != j.ID || l.Stream != "stdout" || l.Message != "Hello world" {
					t.Errorf("job %d (%s) logged %+v", i+1, j.ID, l)
				}
			}
		})
	}
}

// Partial last lines on stdout and stderr, a buffer left open, exit() inside perform().
func TestOutputEndsWithTheJob(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		for _, args := range []string{`{}`, `{"buffered":true}`, `{"exit":true}`} {
			t.Run(m.name+args, func(t *testing.T) {
				t.Parallel()
				var buf syncBuffer
				p := newPHP(t, m, func(c *Config) { c.Logger = zerolog.New(&buf) })
				var ids []string
				for range 2 {
					j := job(t, "Php_Partial", args)
					if err := perform(t, p, j); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, j.ID)
				}
				last := "out two"
				if strings.Contains(args, "buffered") {
					last = "out two buffered"
				}
				var got, want []string
				for _, l := range outputLines(t, &buf) {
					got = append(got, l.JobID+" "+l.Stream+" "+l.Message)
				}
				for _, id := range ids {
					want = append(want, id+" stdout out one", id+" stdout "+last, id+" stderr err one", id+" stderr err two")
				}
				sort.Strings(got)
				sort.Strings(want)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

// A job process (or forked child) ends as PHP ends it: shutdown functions, destructors,
// output buffers flushed and logged with the job; a fatal error in a destructor is still
// the dirty exit PHP's exit code makes it. (Fork isolation ends its children without PHP's
// teardown, after these steps: see runner.php's quickExit.)
func TestJobProcessShutdown(t *testing.T) {
	t.Parallel()
	for _, m := range models {
		if m.isolation == IsolationNone && m.mode == ModePool {
			continue // the warm process itself goes on: its shutdown comes at its exit
		}
		for _, fatal := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fatal=%v", m.name, fatal), func(t *testing.T) {
				t.Parallel()
				var buf syncBuffer
				p := newPHP(t, m, func(c *Config) { c.Logger = zerolog.New(&buf) })
				file := filepath.Join(t.TempDir(), "steps")
				j := job(t, "Php_Shutdown", fmt.Sprintf(`{"file":%q,"fatal":%v}`, file, fatal))
				err := perform(t, p, j)
				var je *resque.JobError
				switch {
				case fatal && (!errors.As(err, &je) || je.Message != "Job exited with exit code 255"):
					t.Errorf("fatal error in a destructor: %v, want exit code 255", err)
				case !fatal && err != nil:
					t.Errorf("%v", err)
				}
				if b, _ := os.ReadFile(file); string(b) != "shutdown\ndestruct\n" {
					t.Errorf("steps %q, want the shutdown function, then the destructor", b)
				}
				var got []string
				for _, l := range outputLines(t, &buf) {
					if l.Stream == "stdout" {
						if l.JobID != j.ID {
							t.Errorf("%+v: not attributed to %s", l, j.ID)
						}
						got = append(got, l.Message)
					}
				}
				// (The buffer may end its own line: per-job ends the job's output after perform.)
				if want := "buffered in performfrom shutdown functionfrom destructor"; strings.Join(got, "") != want {
					t.Errorf("stdout %q, want %q", strings.Join(got, "|"), want)
				}
			})
		}
	}
}

// BenchmarkPerform runs no-op PHP jobs through each process model, one at a time.
func BenchmarkPerform(b *testing.B) {
	for _, m := range models {
		b.Run(m.name, func(b *testing.B) {
			needPHP(b)
			p, err := New(Config{AppInclude: app("bootstrap.php"), Mode: m.mode, Isolation: m.isolation, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			j, err := resque.NewJob("bench", []byte(`{"class":"Php_Noop","args":[{"n":1}],"id":"0123456789abcdef0123456789abcdef"}`))
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Perform(context.Background(), j); err != nil { // the warm process
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := p.Perform(context.Background(), j); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
