package command

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

func statusCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a tracked job's status (waiting, running, failed, complete)",
		ArgsUsage: "JOB_ID",
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "status-prefix", Usage: "php-resque 1.3 status prefix the job was enqueued with"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("status needs JOB_ID")
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := client.Status(c.Context, c.Args().Get(0), c.String("status-prefix"))
			if errors.Is(err, resque.ErrNoStatus) {
				return fmt.Errorf("job %s: %w", c.Args().Get(0), err)
			}
			if err != nil {
				return err
			}
			failure := statusFailure(c, client, st)
			if c.Bool("json") {
				if failure != nil {
					return writeJSON(c.App.Writer, struct {
						resque.JobStatus
						Failure *failedJSON `json:"failure"`
					}{st, failure})
				}
				return writeJSON(c.App.Writer, st)
			}
			fmt.Fprintf(c.App.Writer, "status:   %s (%d)\nupdated:  %s\n", st.Status, int(st.Status), time.Unix(st.Updated, 0).Format(time.RFC3339))
			if st.Attempt > 1 {
				fmt.Fprintf(c.App.Writer, "attempt:  %d\n", st.Attempt)
			}
			if st.Implementation != "" { // a routed class: which side ran it (go or php)
				fmt.Fprintf(c.App.Writer, "ran in:   %s\n", st.Implementation)
			}
			if st.Started != nil {
				fmt.Fprintf(c.App.Writer, "started:  %s\n", time.Unix(*st.Started, 0).Format(time.RFC3339))
			}
			if len(st.Result) > 0 && strings.TrimSpace(string(st.Result)) != "null" {
				fmt.Fprintf(c.App.Writer, "result:   %s\n", st.Result)
			}
			printStatusFailure(c.App.Writer, failure)
			return nil
		},
	}
}
