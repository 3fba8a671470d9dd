// Command goresque is a drop-in, wire-compatible replacement for php-resque's workers.
//
// The stock binary has one Go handler, the example class Goresque_Example_Hello; every
// other class runs as a PHP class through the PHP bridge. To port jobs to Go, write a
// main like this one that registers your handlers (see README.md).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/goresque/goresque/command"
	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

func main() {
	mux := resque.NewMux()
	mux.HandleFunc("Goresque_Example_Hello", hello)
	os.Exit(command.Main(mux))
}

// hello greets args["name"] and returns the greeting as the job's result.
func hello(ctx context.Context, job *resque.Job) error {
	name := job.String("name")
	if err := job.ArgErr(); err != nil {
		return err
	}
	greeting := fmt.Sprintf("Hello, %s!", name)
	zerolog.Ctx(ctx).Info().Msg(greeting)
	job.SetResult(greeting)
	return nil
}
