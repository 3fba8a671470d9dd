package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// countChildEnv marks a worker process started by the COUNT supervisor.
const countChildEnv = "GORESQUE_COUNT_CHILD"

// superviseCount is COUNT=N: N worker processes, each a real process with its own pid and
// worker id (so php-resque's same-host prune sees each as alive), under this parent, which
// registers nothing. Like resque/php-resque v1.3.6's launcher it stays, forwards QUIT,
// TERM, INT, USR1, USR2 and CONT to the workers, and it restarts a worker that crashed
// (exited non-zero or by a signal it was not sent), with backoff. It returns when every
// worker has exited after a stop signal, or has exited on its own.
func superviseCount(ctx context.Context, s workSettings, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "goresque: COUNT: cannot find own executable: %v\n", err)
		return exitFailure
	}
	log := newLogger(stderr, s.Verbose, s.VVerbose, s.LogFormat).With().Str("component", "count").Int("pid", os.Getpid()).Logger()
	// The pid file holds this parent's pid, as an init script expects: the parent forwards
	// signals to every worker and removes the file when the last one has stopped.
	if s.PIDFile != "" {
		if err := writePIDFile(s.PIDFile); err != nil {
			fmt.Fprintf(stderr, "goresque: %v\n", err)
			return exitFailure
		}
		defer os.Remove(s.PIDFile)
	}

	sigs := make(chan os.Signal, 8)
	notifyWorkerSignals(sigs)
	defer signal.Stop(sigs)

	var mu sync.Mutex
	stopping := false
	procs := make([]*os.Process, s.Count)
	exits := make(chan int, s.Count) // index of the child that exited

	argv0 := os.Args[0]
	start := func(i int) error {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Args[0] = argv0
		cmd.Env = append(os.Environ(), countChildEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = countChildAttr()
		if err := cmd.Start(); err != nil {
			return err
		}
		mu.Lock()
		procs[i] = cmd.Process
		mu.Unlock()
		go func() {
			_ = cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			mu.Lock()
			st := stopping
			mu.Unlock()
			if code != 0 && !st {
				log.Error().Int("worker", i).Int("child_pid", cmd.Process.Pid).Str("exit", cmd.ProcessState.String()).Msg("worker process died")
			}
			exits <- i*2 + boolInt(code != 0)
		}()
		log.Info().Int("worker", i).Int("child_pid", cmd.Process.Pid).Msg("started worker process")
		return nil
	}
	for i := range s.Count {
		if err := start(i); err != nil {
			fmt.Fprintf(stderr, "goresque: COUNT: start worker: %v\n", err)
			return exitFailure
		}
	}
	running := s.Count
	backoff := make([]time.Duration, s.Count)
	startedAt := make([]time.Time, s.Count)
	for i := range startedAt {
		startedAt[i] = time.Now()
	}
	restart := make(chan int, s.Count)
	// Workers waiting out their restart backoff: a stop must not wait for them.
	pending := map[int]*time.Timer{}
	stopAll := func() {
		log.Debug().Int("pending_restarts", len(pending)).Int("running", running).Msg("stopping worker processes")
		mu.Lock()
		stopping = true
		mu.Unlock()
		for i, tm := range pending {
			tm.Stop()
			delete(pending, i)
			running--
		}
	}
	forward := func(sig os.Signal) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			if p != nil {
				_ = p.Signal(sig)
			}
		}
	}
	for running > 0 {
		select {
		case <-ctx.Done():
			stopAll()
			forward(syscall.SIGTERM)
		case sig := <-sigs:
			for _, ws := range workerSignals() {
				if ws.sig == sig && ws.stops {
					stopAll()
				}
			}
			forward(sig)
		case e := <-exits:
			i, crashed := e/2, e%2 == 1
			mu.Lock()
			procs[i] = nil
			st := stopping
			mu.Unlock()
			if !crashed || st {
				running--
				continue
			}
			if time.Since(startedAt[i]) > time.Minute {
				backoff[i] = 0
			}
			backoff[i] = min(max(2*backoff[i], time.Second), 30*time.Second)
			log.Warn().Int("worker", i).Stringer("in", backoff[i]).Msg("restarting worker process")
			pending[i] = time.AfterFunc(backoff[i], func() { restart <- i })
		case i := <-restart:
			if _, ok := pending[i]; !ok {
				continue // cancelled by a stop
			}
			delete(pending, i)
			startedAt[i] = time.Now()
			if err := start(i); err != nil {
				log.Error().Err(err).Int("worker", i).Msg("cannot restart worker process")
				running--
			}
		}
	}
	log.Debug().Msg("all worker processes stopped")
	return exitOK
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
