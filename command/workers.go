package command

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

func workersCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "workers",
		Usage: "list registered workers (php-resque, goresque and Ruby alike) and what they work on",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			ws, err := client.Workers(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if ws == nil {
					ws = []resque.WorkerInfo{}
				}
				return writeJSON(c.App.Writer, ws)
			}
			paused, err := client.Paused(c.Context)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKER\tSTARTED\tPROCESSED\tFAILED\tWORKING ON")
			for _, w := range ws {
				work := describeWork(w.Working)
				if paused && w.Working == nil {
					work = "paused (pause-all-workers; php-resque workers ignore it)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", w.ID, w.Started, w.Processed, w.Failed, work)
			}
			return tw.Flush()
		},
	}
}

func describeWork(rec json.RawMessage) string {
	if rec == nil {
		return "-"
	}
	var r struct {
		Queue   string `json:"queue"`
		RunAt   string `json:"run_at"`
		Payload struct {
			Class string `json:"class"`
			ID    string `json:"id"`
		} `json:"payload"`
	}
	if json.Unmarshal(rec, &r) != nil {
		return "(unreadable record)"
	}
	s := r.Payload.Class + " on " + r.Queue + " since " + r.RunAt
	if r.Payload.ID != "" {
		s += " (" + r.Payload.ID + ")"
	}
	return s
}
