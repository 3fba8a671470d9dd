package resque

import (
	"fmt"
	"os"
	"testing"

	"github.com/goresque/goresque/internal/redistest"
	"go.uber.org/goleak"
)

// testServer is the package's redis-server, started once by TestMain; nil when
// redis-server is unavailable (tests then skip, or fail under CI=true).
var (
	testServer    *redistest.Server
	testServerErr error
)

func TestMain(m *testing.M) {
	testServer, testServerErr = redistest.Start(redistest.Options{})
	code := m.Run()
	if testServer != nil {
		testServer.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// server returns the shared server or skips t.
func server(t testing.TB) *redistest.Server {
	t.Helper()
	if testServer == nil {
		redistest.Unavailable(t, testServerErr)
	}
	return testServer
}
