package resque_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/goresque/goresque/resque"
)

// A Mux routes by PHP class name the way PHP resolves class names: case-insensitively, with
// or without a leading backslash. Classes without a handler go to the fallback (the PHP
// bridge in goresque's command line).
func ExampleMux() {
	mux := resque.NewMux()
	mux.HandleFunc(`App\Jobs\SendMail`, func(ctx context.Context, job *resque.Job) error {
		job.SetResult("sent to " + job.String("to"))
		return job.ArgErr()
	})
	mux.Fallback(resque.HandlerFunc(func(ctx context.Context, job *resque.Job) error {
		return errors.New("would run the PHP class " + job.Class)
	}))

	for _, payload := range []string{
		`{"class":"\\app\\jobs\\sendmail","args":[{"to":"ann@example.com"}],"id":"4c1e0a6f2b7d4b8e9a0c1d2e3f405162","queue_time":1795731279.37}`,
		`{"class":"Legacy_Report","args":[null]}`,
	} {
		job, err := resque.NewJob("default", []byte(payload))
		if err != nil {
			fmt.Println(err)
			continue
		}
		err = mux.Perform(context.Background(), job)
		result, _ := job.Result()
		fmt.Printf("%s: err=%v result=%v\n", job.Class, err, result)
	}
	// Output:
	// \app\jobs\sendmail: err=<nil> result=sent to ann@example.com
	// Legacy_Report: err=would run the PHP class Legacy_Report result=<nil>
}
