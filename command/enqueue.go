package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

func enqueueCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:      "enqueue",
		Usage:     "push a job exactly as PHP's Resque::enqueue does; prints the job id",
		ArgsUsage: "[--at TIME|--in DURATION] QUEUE CLASS [ARGS_JSON]",
		Description: `ARGS_JSON is the PHP array the job gets as $this->args, written as JSON: an object,
a list or null (default). It is stored as PHP's json_encode(json_decode(ARGS_JSON, true)) writes it.
With --at or --in the job goes to the delayed schedule in php-resque-scheduler's format, and
a scheduler (goresque scheduler, work --scheduler, or php-resque-scheduler) queues it when due.`,
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.BoolFlag{Name: "track", Usage: "create the job status key (Resque::enqueue's $trackStatus)"},
			&cli.StringFlag{Name: "status-prefix", Usage: "php-resque 1.3 status prefix (Resque::enqueue's 5th argument)"},
		}, delayedFlags()...),
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
				if kind := jsonKind(raw); kind != "" {
					// Resque_Job::create: "Supplied $args must be an array."
					return usageError(fmt.Sprintf("ARGS_JSON must be a JSON object, an array or null, not %s", kind))
				}
				args = raw
			}
			at, delayed, err := delayedTime(c, time.Now())
			if err != nil {
				return err
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			if delayed {
				return enqueueDelayed(c, client, at, args)
			}
			id, err := client.Enqueue(c.Context, c.Args().Get(0), c.Args().Get(1), args,
				resque.EnqueueOptions{Track: c.Bool("track"), Prefix: c.String("status-prefix")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, struct {
					ID    string `json:"id"`
					Queue string `json:"queue"`
					Class string `json:"class"`
				}{id, c.Args().Get(0), c.Args().Get(1)})
			}
			fmt.Fprintln(c.App.Writer, id)
			return nil
		},
	}
}

// jsonKind names a valid JSON value that PHP would not decode to an array ("a string",
// "a number", "true", "false"); "" for an object, an array or null.
func jsonKind(raw []byte) string {
	v := bytes.TrimSpace(raw)
	switch {
	case len(v) == 0, v[0] == '{', v[0] == '[', v[0] == 'n':
		return ""
	case v[0] == '"':
		return "a string"
	case v[0] == 't', v[0] == 'f':
		return string(v)
	}
	return "a number"
}
