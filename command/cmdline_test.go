package command

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestReorder pins how a command line is put in urfave/cli v2's order: global flags before
// the command, a (sub)command's flags before its arguments, whichever flags take a value
// known from the flags themselves (no list of boolean flag names to keep in step).
func TestReorder(t *testing.T) {
	t.Parallel()
	app := &cli.App{
		Flags: append(globalFlags(), cli.HelpFlag),
		Commands: []*cli.Command{
			{Name: "queues", Flags: []cli.Flag{jsonFlag()}},
			helpCommand(),
			{Name: "enqueue", Flags: []cli.Flag{jsonFlag(), &cli.BoolFlag{Name: "track"}, &cli.StringFlag{Name: "status-prefix"}}},
			{Name: "work", Flags: settingFlags(func(st setting) bool { return !st.global })},
			{Name: "failed", Subcommands: []*cli.Command{
				{Name: "list", Flags: []cli.Flag{jsonFlag(), &cli.StringFlag{Name: "queue"}}},
				{Name: "retry", Flags: []cli.Flag{&cli.BoolFlag{Name: "all"}, &cli.StringFlag{Name: "class"}}},
			}},
		},
	}
	for _, tc := range []struct{ in, want, err string }{
		{in: "enqueue default Job {} --track", want: "enqueue --track default Job {}"},
		{in: "enqueue default Job --status-prefix p {}", want: "enqueue --status-prefix p default Job {}"},
		{in: "enqueue default Job -- --track", want: "enqueue default Job -- --track"},
		// Global flags go before the command, with their values.
		{in: "enqueue --redis h:1 default Job --json --prefix=app", want: "--redis h:1 --prefix=app enqueue --json default Job"},
		{in: "--db 2 work -v --tls-insecure-skip-verify --queue q", want: "--db 2 --tls-insecure-skip-verify work -v --queue q"},
		{in: "work --blocking --interval 1", want: "work --blocking --interval 1"},
		// --help after a command is that command's.
		{in: "work --help", want: "work --help"},
		{in: "--help", want: "--help"},
		// Subcommands: the path first, then the flags, then the arguments.
		{in: "failed list --queue q --json", want: "failed list --queue q --json"},
		{in: "failed retry 3 4 --all --class C", want: "failed retry --all --class C 3 4"},
		{in: "failed retry list", want: "failed retry list"},
		// A command's arguments that name commands stay arguments.
		{in: "enqueue work help", want: "enqueue work help"},
		{in: "help work", want: "help work"},
		{in: "wrok", err: `unknown command "wrok"; did you mean work?`},
		{in: "queues --redis", err: "flag needs an argument: --redis"},
	} {
		got, err := reorder(app, append([]string{"goresque"}, strings.Fields(tc.in)...))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			if _, ok := err.(usageError); !ok {
				t.Errorf("%q: err %T, want a usageError (exit status 2)", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if g := strings.Join(got[1:], " "); g != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, g, tc.want)
		}
	}
}
