package command

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

func routeCommand(env lookupFunc, mux *resque.Mux) *cli.Command {
	return &cli.Command{
		Name:      "route",
		Usage:     "show or change the share of a ported class's jobs its Go handler takes (the rest run as the PHP class)",
		ArgsUsage: "[CLASS go|php|go:N% | CLASS --reset]",
		Description: `route                 list the rules: class, rule in force, where it comes from, deployed default
route CLASS go:N%     send N% of CLASS's jobs to its Go handler, the rest to the PHP class
route CLASS go        every job to the Go handler
route CLASS php       roll back: every job to the PHP class
route CLASS --reset   back to the deployed default (GORESQUE_ROUTE or Mux.SetRoute; none: Go)

A change is stored in Redis (goresque:routes) and applies on every worker before the next job it
claims, without a restart. A job's side is stable per job id (a retry stays on its side). Only a
class with both a Go handler and the PHP bridge is split. The list shows the deployed defaults of
this program and environment; workers started with another GORESQUE_ROUTE use theirs.`,
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.BoolFlag{Name: "reset", Usage: "remove CLASS's rule from Redis: back to the deployed default"},
		}, redisFlags()...),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			reset := c.Bool("reset")
			var share int
			switch {
			case reset && len(args) != 1:
				return usageError("route --reset needs one CLASS")
			case reset:
			case len(args) == 2:
				var err error
				if share, err = resque.ParseRoute(args[1]); err != nil {
					return usageError(err.Error())
				}
			case len(args) != 0:
				return usageError("route takes no arguments (list), CLASS RULE, or CLASS --reset")
			}
			defaults, err := deployedRoutes(env, mux)
			if err != nil {
				return err
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			switch {
			case reset:
				if err := client.ResetRoute(c.Context, args[0]); err != nil {
					return err
				}
				d, ok := defaults[classFold(args[0])]
				if !ok {
					fmt.Fprintf(c.App.Writer, "%s: reset; no deployed default (jobs go to the Go handler when there is one)\n", args[0])
					return nil
				}
				fmt.Fprintf(c.App.Writer, "%s: reset to the deployed default %s (%s)\n", args[0], resque.FormatRoute(d.share), d.source)
				return nil
			case len(args) == 2:
				if err := client.SetRoute(c.Context, args[0], share); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s: %s (every worker, from the next job it claims)\n", args[0], resque.FormatRoute(share))
				return nil
			}
			overrides, err := client.Routes(c.Context)
			if err != nil {
				return err
			}
			return listRoutes(c, routeRows(defaults, overrides))
		},
	}
}

// routeDefault is a deployed default rule and where it was set.
type routeDefault struct {
	class  string
	share  int
	source string
}

// deployedRoutes are the defaults `work` would apply in this program: Mux.SetRoute's,
// overridden by GORESQUE_ROUTE's, by class as the Mux compares names.
func deployedRoutes(env lookupFunc, mux *resque.Mux) (map[string]routeDefault, error) {
	out := map[string]routeDefault{}
	for class, share := range mux.Routes() {
		out[classFold(class)] = routeDefault{class: class, share: share, source: "Go"}
	}
	if v, ok := env("GORESQUE_ROUTE"); ok {
		routes, err := resque.ParseRoutes(v)
		if err != nil {
			return nil, badSetting("GORESQUE_ROUTE=%q: %v", v, err)
		}
		for class, share := range routes {
			out[classFold(class)] = routeDefault{class: class, share: share, source: "GORESQUE_ROUTE"}
		}
	}
	return out, nil
}

// classFold is the class name as the Mux compares it: no leading backslash, ASCII letters
// lower-cased (PHP's class lookup).
func classFold(class string) string {
	class = strings.TrimPrefix(class, `\`)
	b := []byte(class)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// routeRow is one line of `goresque route`.
type routeRow struct {
	Class    string `json:"class"`
	Rule     string `json:"rule"`     // in force: go, php or go:N%
	GoShare  int    `json:"go_share"` // percent
	Source   string `json:"source"`   // "goresque route" (Redis), "GORESQUE_ROUTE" or "Go"
	Deployed string `json:"deployed"` // the deployed default; "" when none
}

func routeRows(defaults map[string]routeDefault, overrides map[string]int) []routeRow {
	rows := map[string]*routeRow{}
	for k, d := range defaults {
		rows[k] = &routeRow{Class: d.class, Rule: resque.FormatRoute(d.share), GoShare: d.share, Source: d.source, Deployed: resque.FormatRoute(d.share)}
	}
	for class, share := range overrides {
		k := classFold(class)
		r := rows[k]
		if r == nil {
			r = &routeRow{Class: class}
			rows[k] = r
		}
		r.Rule, r.GoShare, r.Source = resque.FormatRoute(share), share, "goresque route"
		if share < 0 {
			r.Rule = "invalid (ignored by workers)"
		}
	}
	out := make([]routeRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

func listRoutes(c *cli.Context, rows []routeRow) error {
	if c.Bool("json") {
		return writeJSON(c.App.Writer, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.App.Writer, "no routes: each class runs in Go when it has a Go handler, else as PHP")
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tRULE\tSOURCE\tDEPLOYED")
	for _, r := range rows {
		d := r.Deployed
		if d == "" {
			d = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Class, r.Rule, r.Source, d)
	}
	return tw.Flush()
}
