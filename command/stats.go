package command

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func statsCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show processed and failed counts, pending jobs and workers",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := client.Stats(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, st)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			for _, row := range []struct {
				k string
				v int64
			}{
				{"processed", st.Processed}, {"failed", st.Failed}, {"pending", st.Pending},
				{"queues", st.Queues}, {"workers", st.Workers}, {"working", st.Working}, {"failed list", st.FailedLen},
			} {
				fmt.Fprintf(tw, "%s\t%d\n", row.k, row.v)
			}
			return tw.Flush()
		},
	}
}
