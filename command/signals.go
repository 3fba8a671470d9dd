package command

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/goresque/goresque/resque"
	"github.com/rs/zerolog"
)

// handleSignals maps php-resque's signals onto the worker (Resque_Worker::registerSigHandlers).
func handleSignals(w *resque.Worker, log zerolog.Logger) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				log.Debug().Str("signal", sig.String()).Msg("signal")
				switch sig {
				case syscall.SIGQUIT:
					w.Shutdown()
				case syscall.SIGTERM, syscall.SIGINT:
					w.ShutdownNow(fmt.Errorf("worker received %s", signalName(sig)))
				case syscall.SIGUSR1:
					w.KillJob(errors.New("worker received SIGUSR1 (kill the running job)"))
				case syscall.SIGUSR2:
					w.Pause()
				case syscall.SIGCONT:
					w.Resume()
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
