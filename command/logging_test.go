package command

import (
	"regexp"
	"testing"
	"time"
)

// TestLogsShowUnitsAndClassNames: a job's duration was logged as took=0.183 (zerolog's
// float of milliseconds, no unit) and the console showed PHP class names escaped, as
// class="App\\Jobs\\Hello". Durations carry their unit, in JSON and on the console, and
// the console shows a class name as PHP writes it.
func TestLogsShowUnitsAndClassNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"console", []string{`class=App\\Jobs\\Test_Ok `, `took=[0-9.]+(ns|µs|ms|s)\b`}},
		{"json", []string{`"class":"App\\\\Jobs\\\\Test_Ok"`, `"took":"[0-9.]+(ns|µs|ms|s)"`}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			p := newProgram(t)
			p.start("QUEUE=default", "GORESQUE_LOG_FORMAT="+tc.format)
			p.waitWorkers(1)
			p.enqueue(`App\Jobs\Test_Ok`, nil)
			for _, w := range tc.want {
				re := regexp.MustCompile(w)
				deadline := time.Now().Add(10 * time.Second)
				for !re.MatchString(p.out.String()) {
					if time.Now().After(deadline) {
						t.Fatalf("no match for %s in the log:\n%s", w, p.out.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}
