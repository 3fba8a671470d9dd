package command

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func pauseCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "pause",
		Usage: "make every worker stop taking jobs (Ruby resque's pause-all-workers; running jobs finish)",
		Description: `goresque and Ruby resque workers honour it; php-resque workers do not know it (pause
those with SIGUSR2). Undo with resume.`,
		Flags: redisFlags(),
		Action: func(c *cli.Context) error {
			return pauseAction(c, env, true)
		},
	}
}

func resumeCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:   "resume",
		Usage:  "let the workers take jobs again after pause",
		Flags:  redisFlags(),
		Action: func(c *cli.Context) error { return pauseAction(c, env, false) },
	}
}

func pauseAction(c *cli.Context, env lookupFunc, pause bool) error {
	if c.NArg() > 0 {
		return usageError(c.Command.Name + " takes no arguments")
	}
	client, pool, err := clientFor(c, env)
	if err != nil {
		return err
	}
	defer pool.Close()
	if pause {
		err = client.Pause(c.Context)
	} else {
		err = client.Resume(c.Context)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, map[bool]string{true: "paused", false: "resumed"}[pause])
	return nil
}
