package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure: Redis unreachable, worker error
	exitUsage   = 2 // bad flags, arguments or settings
)

// Main runs the command line with os.Args and returns the exit code; main calls
// os.Exit(command.Main(mux)). mux holds the program's Go handlers (nil: none).
func Main(mux *resque.Mux) int {
	ensureResqueInCmdline()
	return Run(context.Background(), os.Args, os.Stdout, os.Stderr, os.LookupEnv, mux)
}

// Run is Main with its inputs given, for tests and embedding. Signals are handled only
// by `work`. Calls must not overlap: urfave/cli keeps some global state.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env lookupFunc, mux *resque.Mux) int {
	if mux == nil {
		mux = resque.NewMux()
	}
	if env == nil {
		env = os.LookupEnv
	}
	code := exitOK
	app := newApp(stdout, stderr, env, mux, &code)
	if err := app.RunContext(ctx, interspersed(args)); err != nil {
		fmt.Fprintf(stderr, "goresque: %v\n", err)
		var se *settingError
		var ue usageError
		switch {
		case errors.As(err, &se), errors.As(err, &ue), isCLIUsage(err):
			return exitUsage
		}
		return exitFailure
	}
	return code
}

// boolFlags take no value; every other flag takes the next argument unless written
// --flag=value.
var boolFlags = map[string]bool{
	"track": true, "json": true, "blocking": true, "verbose": true, "v": true, "vverbose": true,
	"vv": true, "tls-insecure-skip-verify": true, "help": true, "h": true, "read-only": true,
	"all": true, "scheduler": true,
}

// interspersed moves a subcommand's flags in front of its arguments, so that
// `goresque enqueue default MyJob '{}' --track` works: urfave/cli v2 stops reading flags at
// the first argument.
func interspersed(args []string) []string {
	if len(args) < 3 {
		return args
	}
	out := []string{args[0], args[1]}
	var flags, rest []string
	for i := 2; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && !boolFlags[name] && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	out = append(out, flags...)
	return append(out, rest...)
}

// usageError is a wrong command line.
type usageError string

func (e usageError) Error() string { return string(e) }

func isCLIUsage(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "flag provided but not defined") || strings.Contains(msg, "No help topic") ||
		strings.Contains(msg, "invalid value") || strings.Contains(msg, "flag needs an argument")
}

func newApp(stdout, stderr io.Writer, env lookupFunc, mux *resque.Mux, code *int) *cli.App {
	app := &cli.App{
		Name:            "goresque",
		Usage:           "a php-resque compatible worker: Go handlers, PHP classes for the rest",
		Version:         version(),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// urfave/cli would call os.Exit for an ExitCoder; only Main exits.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			workCommand(env, mux, code),
			enqueueCommand(env),
			queuesCommand(env),
			workersCommand(env),
			statsCommand(env),
			statusCommand(env),
			webCommand(env),
			failedCommand(env), dequeueCommand(env), schedulerCommand(env), pauseCommand(env), resumeCommand(env),
		},
	}
	return app
}

// given returns the flags set on the command line as strings.
func given(c *cli.Context) map[string]string {
	out := map[string]string{}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		// IsSet is also true for a flag's EnvVars; goresque declares none, so this is
		// the command line only.
		switch f.(type) {
		case *cli.BoolFlag:
			out[name] = fmt.Sprint(c.Bool(name))
		default:
			out[name] = c.String(name)
		}
	}
	return out
}

// rubyWorkerTitle is Ruby resque's test for a live worker process on its host
// (Resque::Worker#linux_worker_pids: `ps -A -o pid,command | grep -E "..."`); php-resque's
// is `ps -A -o pid,command | grep [r]esque`.
var rubyWorkerTitle = regexp.MustCompile(`resque:work|resque:\sStarting|resque-[0-9]`)

// workerTitleSuffix is appended to argv[0] so that both tests see a live worker while `ps`
// still shows the program's own name first: "jobs (goresque:work) work --queue q".
const workerTitleSuffix = " (goresque:work)"

// ensureResqueInCmdline re-executes the program with "(goresque:work)" appended to argv[0]
// when its command line would fail Ruby resque's or php-resque's liveness test: their
// prune, run by a Ruby or PHP worker starting on the same host, unregisters any worker
// whose pid does not show with that title (and Ruby records its running job as a dirty
// exit although it goes on running).
func ensureResqueInCmdline() {
	if len(os.Args) < 2 || os.Args[1] != "work" || rubyWorkerTitle.MatchString(strings.Join(os.Args, " ")) {
		return
	}
	if os.Getenv("GORESQUE_REEXEC") != "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	argv := append([]string{os.Args[0] + workerTitleSuffix}, os.Args[1:]...)
	env := append(os.Environ(), "GORESQUE_REEXEC=1")
	_ = syscall.Exec(exe, argv, env) // on failure, run as we are
}
