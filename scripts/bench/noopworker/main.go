// Command noopworker is goresque as a user's own main builds it (README "Porting a job to
// Go"): the importable command package with a Mux holding Go handlers, here no-ops for the
// benchmark's job classes. scripts/bench builds it and runs it as a real process.
//
//	Bench_Noop     does nothing.
//	Bench_Latency  does nothing but append "<job id> <unix ns>" to $BENCH_STARTS when it
//	               starts, so the benchmark can measure the pickup latency (enqueue to
//	               handler start) from outside, without a Redis call of its own.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/goresque/goresque/command"
	"github.com/goresque/goresque/resque"
)

func main() {
	mux := resque.NewMux()
	mux.HandleFunc("Bench_Noop", func(context.Context, *resque.Job) error { return nil })
	if path := os.Getenv("BENCH_STARTS"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "noopworker:", err)
			os.Exit(1)
		}
		mux.HandleFunc("Bench_Latency", func(_ context.Context, j *resque.Job) error {
			// One write(2) per line with O_APPEND: lines from several slots never interleave.
			_, err := fmt.Fprintf(f, "%s %d\n", j.ID, time.Now().UnixNano())
			return err
		})
	}
	os.Exit(command.Main(mux))
}
