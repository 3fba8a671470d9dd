package resque_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// A class's retry policy: up to 5 attempts, 10s, 20s, 40s, 80s apart (at most an hour),
// jittered, except for failures that cannot succeed later. The handler sees which attempt
// it runs; a retried job's payload carries it as "goresque_attempt".
func ExampleMux_SetRetry() {
	mux := resque.NewMux()
	mux.HandleFunc(`App\Jobs\SendMail`, func(ctx context.Context, job *resque.Job) error {
		fmt.Println("attempt", job.Attempt())
		return nil
	})
	mux.SetRetry(`App\Jobs\SendMail`, resque.Retry{
		Attempts: 5,
		Backoff:  resque.Exponential(10*time.Second, time.Hour),
		Jitter:   true,
		RetryOn:  func(e *resque.JobError) bool { return e.Exception != "InvalidArgumentException" },
	})
	job, _ := resque.NewJob("mail", []byte(`{"class":"App\\Jobs\\SendMail","args":[{}],"goresque_attempt":3}`))
	_ = mux.Perform(context.Background(), job)
	r, _ := mux.RetryPolicy(`\app\jobs\sendmail`)
	fmt.Println(r.Attempts, r.Backoff(1), r.Backoff(4))
	// Output:
	// attempt 3
	// 5 10s 1m20s
}
