package command

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorder puts a command line in the order urfave/cli v2 reads it: the global flags
// before the command, the command's flags before its arguments. v2 stops reading flags at
// the first argument, and reads a flag only at the level that declares it; people write
// `goresque enqueue default MyJob '{}' --track` and `goresque queues --redis host:6380`.
// Which flags take a value comes from the flags themselves. An unknown command is a
// usageError with a suggestion.
func reorder(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	global := map[string]cli.Flag{}
	for _, f := range app.Flags {
		if f == cli.HelpFlag {
			continue // --help after a command is that command's
		}
		for _, n := range f.Names() {
			global[n] = f
		}
	}
	var (
		globals, path, flags, rest []string
		cmd                        *cli.Command
		cmds                       = app.Commands
	)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			switch {
			case len(rest) == 0 && findCommand(cmds, a) != nil:
				cmd = findCommand(cmds, a)
				cmds = cmd.Subcommands
				path = append(path, a)
			case cmd == nil:
				return nil, unknownCommand(app.Commands, a)
			default:
				rest = append(rest, a)
			}
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, isGlobal := global[name]
		if !isGlobal && cmd != nil {
			f = findFlag(cmd.Flags, name)
		}
		takesValue := f != nil && !hasValue && !isBoolFlag(f)
		dst := &flags
		if isGlobal || cmd == nil {
			dst = &globals
		}
		*dst = append(*dst, a)
		if takesValue {
			if i+1 == len(args) {
				return nil, usageError(fmt.Sprintf("flag needs an argument: %s", a))
			}
			i++
			*dst = append(*dst, args[i])
		}
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, path...)
	out = append(out, flags...)
	return append(out, rest...), nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func isBoolFlag(f cli.Flag) bool {
	_, ok := f.(*cli.BoolFlag)
	return ok
}

// helpCommand is `goresque help [COMMAND]`: the program's or a command's help, and a
// suggestion for a misspelled command.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the commands, or one command's flags",
		ArgsUsage: "[COMMAND]",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			if c.NArg() > 1 {
				return usageError("help takes one COMMAND")
			}
			name := c.Args().First()
			if findCommand(c.App.Commands, name) == nil {
				return unknownCommand(c.App.Commands, name)
			}
			return cli.ShowCommandHelp(c.Lineage()[1], name) // the program's context lists the commands
		},
	}
}

// unknownCommand says so and suggests the nearest command names: within two edits, or
// starting with what was typed.
func unknownCommand(cmds []*cli.Command, name string) error {
	var near []string
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		if editDistance(strings.ToLower(name), c.Name) <= 2 || (len(name) >= 2 && strings.HasPrefix(c.Name, strings.ToLower(name))) {
			near = append(near, c.Name)
		}
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if len(near) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(near, " or "))
	}
	return usageError(msg + " (goresque help lists the commands)")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
