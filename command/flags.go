package command

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// settingFlags makes the flags of the settings that pass keep, from settingsTable. The
// help line names the environment variables and the default, so `--help` is the
// settings table. No flag declares EnvVars: urfave/cli would read them with Go's rules,
// and bin/resque's are PHP's (readRule).
func settingFlags(keep func(setting) bool) []cli.Flag {
	var flags []cli.Flag
	for _, st := range settingsTable() {
		if st.flag == "" || !keep(st) {
			continue
		}
		usage := st.usage + " (env " + strings.Join(st.env, " or ")
		if st.def != "" {
			usage += "; default " + st.def
		}
		usage += ")"
		if st.isBool() {
			flags = append(flags, &cli.BoolFlag{Name: st.flag, Aliases: st.aliases, Usage: usage, DisableDefaultText: true})
		} else {
			flags = append(flags, &cli.StringFlag{Name: st.flag, Aliases: st.aliases, Usage: usage})
		}
	}
	return flags
}

// envOnlyHelp lists the settings that pass keep and have no flag (a password must not
// show in ps), for a command's description.
func envOnlyHelp(keep func(setting) bool) string {
	var b strings.Builder
	for _, st := range settingsTable() {
		if st.flag == "" && keep(st) {
			fmt.Fprintf(&b, "\n  %s: %s", strings.Join(st.env, " or "), st.usage)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "Environment only:" + b.String()
}

// globalFlags are the flags every command reads (Redis, TLS, namespace, dialect). They
// belong to the program, so `goresque --help` documents them once; reorder lets them
// stand after the command too, as `goresque queues --redis host:6380`.
func globalFlags() []cli.Flag { return settingFlags(func(st setting) bool { return st.global }) }

// redisFlags returns no flags: the Redis and TLS flags are global (globalFlags) and
// every command reads them. Commands written against the cli-split layout may still list
// redisFlags() among their flags; drop it when none does.
//
//lint:ignore U1000 kept for commands written on other branches against the old layout
func redisFlags() []cli.Flag { return nil }

// given returns the flags set on the command line as strings, from the command and
// every command above it (global flags live on the program).
func given(c *cli.Context) map[string]string {
	out := map[string]string{}
	for _, ctx := range c.Lineage() {
		if ctx.Command == nil {
			continue
		}
		for _, f := range ctx.Command.Flags {
			name := f.Names()[0]
			if _, seen := out[name]; seen || !ctx.IsSet(name) {
				continue
			}
			// IsSet is also true for a flag's EnvVars; goresque declares none, so this
			// is the command line only.
			switch f.(type) {
			case *cli.BoolFlag:
				out[name] = fmt.Sprint(ctx.Bool(name))
			default:
				out[name] = ctx.String(name)
			}
		}
	}
	return out
}

// jsonFlag returns a fresh --json flag: urfave/cli writes into flags while parsing, so
// commands must not share one.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"} }
