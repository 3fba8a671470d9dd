package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

// clientFor builds a resque.Client from the redis flags and environment.
func clientFor(c *cli.Context, env lookupFunc) (*resque.Client, *redis.Pool, error) {
	src := source{env: env, flags: given(c)}
	r, err := readRedisSettings(src)
	if err != nil {
		return nil, nil, err
	}
	prefix, _ := src.get("prefix", "PREFIX")
	if phpEmpty(prefix) {
		prefix = ""
	}
	d, _ := src.get("dialect", "GORESQUE_DIALECT")
	dialect, err := resque.ParseDialect(d)
	if err != nil {
		return nil, nil, badSetting("GORESQUE_DIALECT=%q: want php-resque-136 or php-resque-1", d)
	}
	pool, display, err := newPool(r, 2)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRedis(c.Context, pool, display); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return resque.NewClient(pool, prefix, dialect), pool, nil
}

// jsonFlag returns a fresh --json flag: urfave/cli writes into flags while parsing, so
// commands must not share one.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"} }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func enqueueCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:      "enqueue",
		Usage:     "push a job exactly as PHP's Resque::enqueue does; prints the job id",
		ArgsUsage: "QUEUE CLASS [ARGS_JSON]",
		Description: `ARGS_JSON is the PHP array the job gets as $this->args, written as JSON: an object,
a list or null (default). It is stored as PHP's json_encode(json_decode(ARGS_JSON, true)) writes it.`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "track", Usage: "create the job status key (Resque::enqueue's $trackStatus)"},
			&cli.StringFlag{Name: "status-prefix", Usage: "php-resque 1.3 status prefix (Resque::enqueue's 5th argument)"},
		}, redisFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 || c.NArg() > 3 {
				return usageError("enqueue needs QUEUE CLASS [ARGS_JSON]")
			}
			var args any
			if c.NArg() == 3 {
				raw := json.RawMessage(c.Args().Get(2))
				if !json.Valid(raw) {
					return usageError(fmt.Sprintf("ARGS_JSON is not valid JSON: %s", raw))
				}
				args = raw
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			id, err := client.Enqueue(c.Context, c.Args().Get(0), c.Args().Get(1), args,
				resque.EnqueueOptions{Track: c.Bool("track"), Prefix: c.String("status-prefix")})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, id)
			return nil
		},
	}
}

func queuesCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "queues",
		Usage: "list queues and their sizes",
		Flags: append([]cli.Flag{jsonFlag()}, redisFlags()...),
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

func workersCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "workers",
		Usage: "list registered workers (php-resque, goresque and Ruby alike) and what they work on",
		Flags: append([]cli.Flag{jsonFlag()}, redisFlags()...),
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
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKER\tSTARTED\tPROCESSED\tFAILED\tWORKING ON")
			for _, w := range ws {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", w.ID, w.Started, w.Processed, w.Failed, describeWork(w.Working))
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

func statsCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show processed and failed counts, pending jobs and workers",
		Flags: append([]cli.Flag{jsonFlag()}, redisFlags()...),
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

func statusCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a tracked job's status (waiting, running, failed, complete)",
		ArgsUsage: "JOB_ID",
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "status-prefix", Usage: "php-resque 1.3 status prefix the job was enqueued with"},
		}, redisFlags()...),
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
			if c.Bool("json") {
				return writeJSON(c.App.Writer, st)
			}
			fmt.Fprintf(c.App.Writer, "status:   %s (%d)\nupdated:  %s\n", st.Status, int(st.Status), time.Unix(st.Updated, 0).Format(time.RFC3339))
			if st.Started != nil {
				fmt.Fprintf(c.App.Writer, "started:  %s\n", time.Unix(*st.Started, 0).Format(time.RFC3339))
			}
			if len(st.Result) > 0 && strings.TrimSpace(string(st.Result)) != "null" {
				fmt.Fprintf(c.App.Writer, "result:   %s\n", st.Result)
			}
			return nil
		},
	}
}
