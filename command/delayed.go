package command

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

// delayedFlags are enqueue's --at and --in.
func delayedFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "at", Usage: "schedule the job for TIME, unix seconds or RFC 3339, as php-resque-scheduler's enqueueAt"},
		&cli.StringFlag{Name: "in", Usage: "schedule the job DURATION from now (90s, 2m, 1h30m), as enqueueIn"},
	}
}

// delayedTime reads --at or --in; ok is false when neither was given.
func delayedTime(c *cli.Context, now time.Time) (at time.Time, ok bool, err error) {
	atS, inS := c.String("at"), c.String("in")
	switch {
	case atS == "" && inS == "":
		return at, false, nil
	case atS != "" && inS != "":
		return at, false, usageError("enqueue: give --at or --in, not both")
	case c.Bool("track") || c.String("status-prefix") != "":
		return at, false, usageError("enqueue: a delayed job cannot be tracked (php-resque-scheduler moves it untracked)")
	case inS != "":
		d, err := time.ParseDuration(strings.TrimSpace(inS))
		if err != nil {
			return at, false, usageError(fmt.Sprintf("--in %q: want a duration such as 90s, 2m or 1h30m", inS))
		}
		return now.Add(d), true, nil
	}
	if sec, err := strconv.ParseInt(strings.TrimSpace(atS), 10, 64); err == nil {
		return time.Unix(sec, 0), true, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(atS))
	if err != nil {
		return at, false, usageError(fmt.Sprintf("--at %q: want unix seconds or an RFC 3339 time such as 2026-12-24T18:00:00Z", atS))
	}
	return t, true, nil
}

// enqueueDelayed schedules the job and prints when it is due.
func enqueueDelayed(c *cli.Context, client *resque.Client, at time.Time, args any) error {
	if err := client.EnqueueAt(c.Context, at, c.Args().Get(0), c.Args().Get(1), args); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "scheduled for %s (%d)\n", time.Unix(at.Unix(), 0).UTC().Format(time.RFC3339), at.Unix())
	return nil
}
