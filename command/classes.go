package command

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/goresque/goresque/internal/web"
	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

func classesCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "classes",
		Usage: "list every job class seen, ported to Go or not, with jobs, failures and time per implementation, in port-next order",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			rep, err := client.Classes(c.Context)
			if err != nil {
				return err
			}
			if rep.Classes == nil {
				rep.Classes = []resque.ClassInfo{}
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, rep)
			}
			return writeClasses(c.App.Writer, rep)
		},
	}
}

// writeClasses prints the human table of `goresque classes`.
func writeClasses(w io.Writer, rep resque.ClassesReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NEXT\tCLASS\tPORTED\tQUEUED\tRUNNING\tIN FAILED\tGO JOBS\tGO FAILED\tGO TIME\tGO P50\tGO P95\tPHP JOBS\tPHP FAILED\tPHP TIME\tPHP P50\tPHP P95")
	for _, ci := range rep.Classes {
		next, ported := "-", "yes"
		if !ci.Ported {
			next, ported = strconv.Itoa(ci.PortNext), "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d", next, ci.Class, ported, ci.Queued, ci.InFlight, ci.InFailed)
		for _, impl := range []string{resque.ImplGo, resque.ImplPHP} {
			st := ci.Impl(impl)
			if st.Jobs == 0 {
				fmt.Fprint(tw, "\t-\t-\t-\t-\t-")
				continue
			}
			fmt.Fprintf(tw, "\t%d\t%d (%.1f%%)\t%s\t%s\t%s", st.Jobs, st.Failed, 100*st.FailureRate,
				web.FormatSeconds(st.Seconds), web.FormatSeconds(st.P50), web.FormatSeconds(st.P95))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Sampled {
		_, err := fmt.Fprintf(w, "(queued and in-failed counts come from the first %d jobs of each queue and the latest %d failures)\n",
			rep.QueueSample, rep.FailedSample)
		return err
	}
	return nil
}
