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
	args, err := reorder(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err != nil {
		fmt.Fprintf(stderr, "goresque: %v\n", err)
		var se *settingError
		var ue usageError
		if errors.As(err, &se) || errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return code
}

// usageError is a wrong command line: exit status 2, as for a bad setting.
type usageError string

func (e usageError) Error() string { return string(e) }

func newApp(stdout, stderr io.Writer, env lookupFunc, mux *resque.Mux, code *int) *cli.App {
	app := &cli.App{
		Name:            "goresque",
		Usage:           "a php-resque compatible worker: Go handlers, PHP classes for the rest",
		Version:         version(),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true, // helpCommand replaces urfave's, which says "No help topic"
		// The help command stops urfave/cli adding --help itself.
		Flags: append(globalFlags(), cli.HelpFlag),
		// urfave/cli would call os.Exit for an ExitCoder; only Main exits.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			workCommand(env, mux, code),
			enqueueCommand(env),
			queuesCommand(env),
			workersCommand(env),
			statsCommand(env),
			classesCommand(env),
			statusCommand(env),
			webCommand(env),
			failedCommand(env), dequeueCommand(env), schedulerCommand(env), pauseCommand(env), resumeCommand(env),
			routeCommand(env, mux),
		},
	}
	app.Commands = append(app.Commands, helpCommand())
	app.Description = envOnlyHelp(func(st setting) bool { return st.global })
	app.OnUsageError = onUsageError
	finishCommands(app.Commands)
	return app
}

// commandHelpTemplate is urfave/cli's, plus where the global flags are documented.
var commandHelpTemplate = cli.CommandHelpTemplate + `
GLOBAL OPTIONS:
   Redis, TLS, --prefix and --dialect go before or after the command: goresque --help lists them.
`

// onUsageError turns urfave/cli's flag errors (an unknown flag, a flag without its value)
// into a usageError, one line instead of the help text.
func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	what := "goresque --help"
	if isSubcommand {
		what = "goresque help " + c.Command.Name
	}
	return usageError(fmt.Sprintf("%v (%s lists the flags)", err, what))
}

// finishCommands gives every command the one-line usage errors and the help template
// that points to the global flags.
func finishCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		if c.CustomHelpTemplate == "" && len(c.Subcommands) == 0 {
			c.CustomHelpTemplate = commandHelpTemplate
		}
		finishCommands(c.Subcommands)
	}
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
