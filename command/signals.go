package command

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// workerSignal is one of php-resque's worker signals (Resque_Worker::registerSigHandlers)
// and what goresque does on it.
type workerSignal struct {
	sig   syscall.Signal
	names string // as the help shows them
	does  string
	stops bool // the COUNT parent stops restarting workers
	act   func(w *resque.Worker, sig os.Signal)
}

// workerSignals is the one list of signals: handleSignals, the COUNT parent (which
// forwards each to its workers) and `goresque work --help` read it.
func workerSignals() []workerSignal {
	return []workerSignal{
		{sig: syscall.SIGQUIT, names: "QUIT", does: "finish the running job, then stop", stops: true,
			act: func(w *resque.Worker, _ os.Signal) { w.Shutdown() }},
		{sig: syscall.SIGTERM, names: "TERM", does: "stop now: the running job is cancelled and recorded as failed", stops: true,
			act: func(w *resque.Worker, sig os.Signal) {
				w.ShutdownNow(fmt.Errorf("worker received %s", signalName(sig)))
			}},
		{sig: syscall.SIGINT, names: "INT", does: "as TERM", stops: true,
			act: func(w *resque.Worker, sig os.Signal) {
				w.ShutdownNow(fmt.Errorf("worker received %s", signalName(sig)))
			}},
		{sig: syscall.SIGUSR1, names: "USR1", does: "kill the running job only",
			act: func(w *resque.Worker, _ os.Signal) {
				w.KillJob(errors.New("worker received SIGUSR1 (kill the running job)"))
			}},
		{sig: syscall.SIGUSR2, names: "USR2", does: "pause: finish the running job, take no new ones",
			act: func(w *resque.Worker, _ os.Signal) { w.Pause() }},
		{sig: syscall.SIGCONT, names: "CONT", does: "resume",
			act: func(w *resque.Worker, _ os.Signal) { w.Resume() }},
	}
}

// notifyWorkerSignals relays every worker signal to ch.
func notifyWorkerSignals(ch chan<- os.Signal) {
	for _, s := range workerSignals() {
		signal.Notify(ch, s.sig)
	}
}

// signalHelp is the signal list for `goresque work --help`.
func signalHelp() string {
	var b strings.Builder
	for _, s := range workerSignals() {
		fmt.Fprintf(&b, "  %-5s %s\n", s.names, s.does)
	}
	b.WriteString("With COUNT, the parent forwards each to its worker processes.")
	return b.String()
}

// handleSignals maps php-resque's signals onto the worker (Resque_Worker::registerSigHandlers).
func handleSignals(w *resque.Worker, log zerolog.Logger) (stop func()) {
	ch := make(chan os.Signal, 8)
	notifyWorkerSignals(ch)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				log.Debug().Str("signal", sig.String()).Msg("signal")
				for _, s := range workerSignals() {
					if s.sig == sig {
						s.act(w, sig)
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}
