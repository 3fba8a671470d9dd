package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/chaos"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rogpeppe/go-internal/testscript"
)

// testServer is shared by the package's tests; see resque's main_test.go.
var (
	testServer    *redistest.Server
	testServerErr error
)

// childEnv makes the test binary act as the goresque program (signal tests start it).
const childEnv = "GORESQUE_TEST_PROGRAM"

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(childEnv) == "1":
		os.Exit(Main(testMux()))
	case os.Getenv(chaosProgramEnv) == "1":
		os.Exit(Main(chaos.WorkerMux()))
	case os.Getenv("GORESQUE_REEXEC") == "1" && os.Args[0] == "goresque"+workerTitleSuffix:
		// testscript's "goresque" command after ensureResqueInCmdline re-executed it with
		// its process title: testscript dispatches on argv[0], which no longer matches.
		os.Exit(Main(testMux()))
	}
	testscript.Main(withServer{m}, map[string]func(){
		"goresque": func() { os.Exit(Main(testMux())) },
	})
}

// withServer starts the shared redis-server around the tests (not in the subprocesses
// testscript starts as commands).
type withServer struct{ m *testing.M }

func (w withServer) Run() int {
	testServer, testServerErr = redistest.Start(redistest.Options{})
	code := w.m.Run()
	if testServer != nil {
		testServer.Stop()
	}
	return code
}

// testMux is the program the CLI tests run: a few Go handlers.
func testMux() *resque.Mux {
	mux := resque.NewMux()
	ok := func(ctx context.Context, j *resque.Job) error {
		j.SetResult("ok")
		return nil
	}
	mux.HandleFunc("Test_Ok", ok)
	mux.HandleFunc(`App\Jobs\Test_Ok`, ok)
	// Test_Sleep sleeps args["seconds"] unless its context ends first.
	mux.HandleFunc("Test_Sleep", func(ctx context.Context, j *resque.Job) error {
		d := time.Duration(j.Float("seconds") * float64(time.Second))
		if err := j.ArgErr(); err != nil {
			return err
		}
		select {
		case <-time.After(d):
			j.SetResult("slept")
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	mux.HandleFunc("Test_Fail", func(ctx context.Context, j *resque.Job) error { return errors.New("test failure") })
	return mux
}

func server(t testing.TB) *redistest.Server {
	t.Helper()
	if testServer == nil {
		redistest.Unavailable(t, testServerErr)
	}
	return testServer
}

func TestScripts(t *testing.T) {
	srv := server(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("REDIS_BACKEND", srv.Socket)
			// Each script gets its own namespace on the shared server.
			e.Setenv("PREFIX", fmt.Sprintf("script%d", time.Now().UnixNano()))
			return nil
		},
		Cmds: scriptCmds(),
		// [php]: php is installed, or this is CI, where a missing php must fail the script.
		Condition: func(cond string) (bool, error) {
			if cond != "php" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			_, err := exec.LookPath("php")
			return err == nil || os.Getenv("CI") == "true", nil
		},
	})
}

// scriptCmds are the commands the scripts have beyond testscript's own.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exits": exitsCmd, "envstdout": envStdoutCmd, "waitstdout": waitStdoutCmd,
	}
}

// envStdoutCmd is `envstdout NAME`: set NAME to the last command's stdout, trimmed (a job
// id that enqueue printed).
func envStdoutCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: envstdout NAME")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}

// waitStdoutCmd is `waitstdout TIMEOUT REGEXP PROGRAM [ARGS...]`: run PROGRAM until its
// stdout matches REGEXP (a worker finished a job), at most TIMEOUT.
func waitStdoutCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: waitstdout TIMEOUT REGEXP PROGRAM [ARGS...]")
	}
	limit, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("waitstdout: %v", err)
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("waitstdout: %v", err)
	}
	for deadline := time.Now().Add(limit); ; time.Sleep(25 * time.Millisecond) {
		err := ts.Exec(args[2], args[3:]...)
		if err == nil && re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitstdout: no match for %s within %v (last: %v)", args[1], limit, err)
		}
	}
}

// exitsCmd is the scripts' `exits CODE PROGRAM [ARGS...]`: run PROGRAM as exec does (its
// stdout and stderr are then checked as exec's) and want exit status CODE, since the
// README promises 2 for usage and settings and 1 for runtime failures.
func exitsCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	got := 0
	var ee *exec.ExitError
	if err := ts.Exec(args[1], args[2:]...); errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}
