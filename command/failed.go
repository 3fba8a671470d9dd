package command

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

// failedPage is how many failure records the failed command reads per round trip.
const failedPage = 1000

func failedCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:      "failed",
		Usage:     "list, show, retry or remove failed jobs (the `failed` list)",
		ArgsUsage: "list | show INDEX | retry INDEX...|--all | remove INDEX...|--all",
		Description: `list       index, failed_at, queue, class, exception and message of the newest records
           (--limit, default 50; 0 for all), filtered by --queue and --class
show       one record in full, backtrace included
retry      put the exact payload back on its queue and set retried_at on the record, as
           Ruby's Resque::Failure.requeue; --all retries every record the filters match
remove     delete records; --all deletes every record the filters match

Each record is retried or removed atomically, and only if it is still the record that was
read (workers append meanwhile; other tools may remove): stopping the command midway never
loses or duplicates a job. INDEX is the position shown by list (0 is the oldest).`,
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "queue", Usage: "only records of this queue"},
			&cli.StringFlag{Name: "class", Usage: "only records of this job class"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list: show at most this many of the newest records; 0 for all"},
			&cli.BoolFlag{Name: "all", Usage: "retry/remove: every record the filters match"},
		}, redisFlags()...),
		Action: func(c *cli.Context) error {
			verb := c.Args().First()
			rest := c.Args().Tail()
			switch verb {
			case "list":
				if len(rest) > 0 {
					return usageError("failed list takes no arguments")
				}
			case "show":
				if len(rest) != 1 {
					return usageError("failed show needs one INDEX")
				}
			case "retry", "remove":
				if c.Bool("all") == (len(rest) > 0) {
					return usageError("failed " + verb + " needs INDEX... or --all")
				}
			default:
				return usageError("failed needs list, show, retry or remove")
			}
			indexes, err := parseIndexes(rest)
			if err != nil {
				return err
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			f := failedFilter{queue: c.String("queue"), class: c.String("class")}
			switch verb {
			case "list":
				return failedList(c, client, f, c.Int("limit"))
			case "show":
				return failedShow(c, client, indexes[0])
			default:
				return failedApply(c, client, verb, f, indexes)
			}
		},
	}
}

type failedFilter struct{ queue, class string }

func (f failedFilter) match(j resque.FailedJob) bool {
	return (f.queue == "" || j.Queue == f.queue) && (f.class == "" || j.Class == f.class)
}

func parseIndexes(args []string) ([]int64, error) {
	var out []int64
	for _, a := range args {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			return nil, usageError(fmt.Sprintf("INDEX %q: want a record number as `failed list` shows it", a))
		}
		out = append(out, n)
	}
	return out, nil
}

// failedJSON is a record as --json prints it.
type failedJSON struct {
	Index     int64    `json:"index"`
	FailedAt  string   `json:"failed_at"`
	Queue     string   `json:"queue"`
	Class     string   `json:"class"`
	Exception string   `json:"exception"`
	Error     string   `json:"error"`
	Worker    string   `json:"worker"`
	RetriedAt string   `json:"retried_at,omitempty"`
	Backtrace []string `json:"backtrace"`
	Payload   any      `json:"payload"`
}

func toJSON(j resque.FailedJob) failedJSON {
	out := failedJSON{Index: j.Index, FailedAt: j.FailedAtRaw, Queue: j.Queue, Class: j.Class, Exception: j.Exception,
		Error: j.Error, Worker: j.Worker, RetriedAt: j.RetriedAt, Backtrace: j.Backtrace}
	if out.Backtrace == nil {
		out.Backtrace = []string{}
	}
	if len(j.Payload) > 0 {
		if json.Valid(j.Payload) {
			out.Payload = j.Payload
		} else {
			out.Payload = string(j.Payload)
		}
	}
	return out
}

// eachFailed calls fn for every record from the oldest, page by page.
func eachFailed(c *cli.Context, client *resque.Client, n int64, fn func(resque.FailedJob) error) error {
	for start := int64(0); start < n; start += failedPage {
		page, err := client.FailedRange(c.Context, start, min(start+failedPage, n)-1)
		if err != nil {
			return err
		}
		for _, j := range page {
			if err := fn(j); err != nil {
				return err
			}
		}
		if len(page) < failedPage {
			return nil
		}
	}
	return nil
}

func failedList(c *cli.Context, client *resque.Client, f failedFilter, limit int) error {
	n, err := client.FailedCount(c.Context)
	if err != nil {
		return err
	}
	var shown []resque.FailedJob
	matched := 0
	err = eachFailed(c, client, n, func(j resque.FailedJob) error {
		if !f.match(j) {
			return nil
		}
		matched++
		shown = append(shown, j)
		if limit > 0 && len(shown) > limit {
			shown = shown[1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		out := make([]failedJSON, 0, len(shown))
		for _, j := range shown {
			out = append(out, toJSON(j))
		}
		return writeJSON(c.App.Writer, out)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tFAILED AT\tQUEUE\tCLASS\tEXCEPTION\tMESSAGE")
	for _, j := range shown {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", j.Index, failedAt(j), j.Queue, j.Class, j.Exception, oneLine(j.Error, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(shown) < matched {
		fmt.Fprintf(c.App.ErrWriter, "showing the newest %d of %d records (--limit 0 for all)\n", len(shown), matched)
	}
	return nil
}

func failedAt(j resque.FailedJob) string {
	if j.FailedAt.IsZero() {
		return j.FailedAtRaw
	}
	return j.FailedAt.Format(time.DateTime)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func failedShow(c *cli.Context, client *resque.Client, index int64) error {
	js, err := client.FailedRange(c.Context, index, index)
	if err != nil {
		return err
	}
	if len(js) == 0 {
		return fmt.Errorf("no failed record %d", index)
	}
	j := js[0]
	if c.Bool("json") {
		return writeJSON(c.App.Writer, toJSON(j))
	}
	w := c.App.Writer
	fmt.Fprintf(w, "index:      %d\nfailed at:  %s\nqueue:      %s\nclass:      %s\nexception:  %s\nmessage:    %s\nworker:     %s\n",
		j.Index, j.FailedAtRaw, j.Queue, j.Class, j.Exception, j.Error, j.Worker)
	if j.RetriedAt != "" {
		fmt.Fprintf(w, "retried at: %s\n", j.RetriedAt)
	}
	fmt.Fprintf(w, "payload:    %s\nbacktrace:\n", j.Payload)
	for _, l := range j.Backtrace {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return nil
}

// failedApply retries or removes the records at indexes, or every record matching f.
func failedApply(c *cli.Context, client *resque.Client, verb string, f failedFilter, indexes []int64) error {
	apply := client.RetryFailedJobs
	if verb == "remove" {
		apply = client.RemoveFailedJobs
	}
	var done, total int
	if len(indexes) > 0 {
		sort.Slice(indexes, func(a, b int) bool { return indexes[a] < indexes[b] })
		var js []resque.FailedJob
		for i, idx := range indexes {
			if i > 0 && idx == indexes[i-1] {
				continue
			}
			r, err := client.FailedRange(c.Context, idx, idx)
			if err != nil {
				return err
			}
			if len(r) == 0 {
				return fmt.Errorf("no failed record %d", idx)
			}
			if !f.match(r[0]) {
				return fmt.Errorf("failed record %d (queue %s, class %s) does not match --queue/--class", idx, r[0].Queue, r[0].Class)
			}
			js = append(js, r[0])
		}
		total = len(js)
		n, err := apply(c.Context, js)
		done = n
		if err != nil {
			return err
		}
	} else {
		n, err := client.FailedCount(c.Context)
		if err != nil {
			return err
		}
		bar := newProgress(c.App.ErrWriter, verb, n)
		// Pages from the newest backwards: a removal never shifts the records of the pages
		// still to come, and records appended meanwhile are not touched.
		for stop := n - 1; stop >= 0; stop -= failedPage {
			page, err := client.FailedRange(c.Context, max(stop-failedPage+1, 0), stop)
			if err != nil {
				return err
			}
			var js []resque.FailedJob
			for _, j := range page {
				if f.match(j) {
					js = append(js, j)
				}
			}
			total += len(js)
			k, err := apply(c.Context, js)
			done += k
			if err != nil {
				return err
			}
			bar.add(int64(len(page)))
		}
		bar.finish()
	}
	past := map[string]string{"retry": "retried", "remove": "removed"}[verb]
	if c.Bool("json") {
		return writeJSON(c.App.Writer, map[string]int{past: done, "skipped": total - done})
	}
	fmt.Fprintf(c.App.Writer, "%s %d\n", past, done)
	if done < total {
		fmt.Fprintf(c.App.Writer, "skipped %d: retried or removed by another tool meanwhile\n", total-done)
	}
	return nil
}

// progress draws a bar on a terminal for bulk operations and stays silent otherwise.
type progress struct {
	w          io.Writer
	what       string
	total, now int64
	last       time.Time
	on         bool
}

func newProgress(w io.Writer, what string, total int64) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, what: what, total: total, on: ok && isTerminal(f) && total > 0}
}

func (p *progress) add(n int64) {
	p.now += n
	if !p.on || time.Since(p.last) < 100*time.Millisecond && p.now < p.total {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := int(min(p.now, p.total) * width / p.total)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.what, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.now, p.total)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}

// statusFailure finds the failure record of a failed job for `status`: php-resque's status
// packet holds only the code. nil when the job did not fail or has no record (any more).
func statusFailure(c *cli.Context, client *resque.Client, st resque.JobStatus) *failedJSON {
	if st.Status != resque.StatusFailed {
		return nil
	}
	f, ok, err := client.FailedJobByID(c.Context, c.Args().Get(0))
	if err != nil || !ok {
		return nil
	}
	j := toJSON(f)
	return &j
}

func printStatusFailure(w io.Writer, f *failedJSON) {
	if f == nil {
		return
	}
	fmt.Fprintf(w, "failed:   %s at %s on %s (failed list index %d)\nmessage:  %s\n", f.Exception, f.FailedAt, f.Worker, f.Index, f.Error)
}
