package command

import (
	"fmt"
	"text/tabwriter"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

func queuesCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "queues",
		Usage: "list queues and their sizes",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			qs, err := client.Queues(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if qs == nil {
					qs = []resque.QueueInfo{}
				}
				return writeJSON(c.App.Writer, qs)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "QUEUE\tJOBS")
			for _, q := range qs {
				fmt.Fprintf(tw, "%s\t%d\n", q.Name, q.Size)
			}
			return tw.Flush()
		},
	}
}
