package command_test

import (
	"context"
	"os"

	"github.com/goresque/goresque/command"
	"github.com/goresque/goresque/resque"
)

func sendMail(ctx context.Context, to string) error { return nil }

// A program of your own: Go handlers by PHP class name, the whole goresque command line,
// and the PHP bridge for every class not ported yet. It is the README's example; it has no
// Output line because it needs Redis, so it is compiled, not run.
func ExampleMain() {
	mux := resque.NewMux()
	// The PHP job was: class App\Jobs\SendMail { public function perform() { ... $this->args['to'] ... } }
	mux.HandleFunc(`App\Jobs\SendMail`, func(ctx context.Context, job *resque.Job) error {
		to := job.String("to") // $this->args['to']
		if err := job.ArgErr(); err != nil {
			return err // recorded in resque:failed as "Exception"
		}
		job.SetResult("sent to " + to) // perform()'s return value: the v1.3.6 status "result"
		return sendMail(ctx, to)
	})
	os.Exit(command.Main(mux))
}
