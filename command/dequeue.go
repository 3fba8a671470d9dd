package command

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"
)

func dequeueCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:      "dequeue",
		Usage:     "remove jobs from a queue as PHP's Resque::dequeue does; prints how many",
		ArgsUsage: "QUEUE CLASS [ARGS_JSON]",
		Description: `Without ARGS_JSON every job of CLASS goes (Resque::dequeue($queue, ['CLASS'])); with --id
only the job with that id (['CLASS' => 'ID']); with ARGS_JSON, an object or a list, every job
of CLASS whose arguments are non-empty and all among ARGS_JSON's values, compared as PHP
strings (['CLASS' => ARGS]). Each job is removed by its exact bytes, atomically: workers
keep taking the other jobs meanwhile.`,
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "id", Usage: "only the job with this id"},
		}, redisFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 || c.NArg() > 3 {
				return usageError("dequeue needs QUEUE CLASS [ARGS_JSON]")
			}
			var args any
			if id := c.String("id"); id != "" {
				if c.NArg() == 3 {
					return usageError("dequeue: give --id or ARGS_JSON, not both")
				}
				args = id
			}
			if c.NArg() == 3 {
				raw := json.RawMessage(c.Args().Get(2))
				if !json.Valid(raw) || (raw[0] != '{' && raw[0] != '[') {
					return usageError(fmt.Sprintf("ARGS_JSON must be a JSON object or list: %s", raw))
				}
				args = raw
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			n, err := client.Dequeue(c.Context, c.Args().Get(0), c.Args().Get(1), args)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, map[string]int64{"removed": n})
			}
			fmt.Fprintln(c.App.Writer, n)
			return nil
		},
	}
}
