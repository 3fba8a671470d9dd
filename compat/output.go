package compat

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// A job's output is logged line by line with the job's id, as it comes. What the job printed
// last without a newline ("Hello world", php-resque's tutorial job) is logged when the job
// ends: the runner writes an end mark on stdout and stderr after each job (and after start-
// up), before its reply, and Perform returns only once the readers have reached both marks.
// So a partial last line is logged at once, attributed to its own job, and no line of one
// job is attributed to the next. The mark is random per bridge, so no job prints it by chance.

// maxLogLine is the longest line logged as one message; a longer one is logged in pieces
// (rather than stopping the reader, which would block the job on a full pipe).
const maxLogLine = 64 * 1024

// outputWait bounds the wait for a job's end marks once its outcome is known. The marks
// come before the outcome, so this is reached only if the runner cannot write them.
const outputWait = 2 * time.Second

// newMark returns a fresh end mark, passed to runner.php as GORESQUE_OUTPUT_MARK.
func newMark() []byte {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return []byte("\x1egoresque-end-" + hex.EncodeToString(b) + "\x1e")
}

// splitOutput is a bufio.SplitFunc for a php process's output: a token is a line (its
// newline and a carriage return before it dropped), or what comes before an end mark,
// mark included (the caller sees the mark as the token's suffix).
func splitOutput(mark []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		nl := bytes.IndexByte(data, '\n')
		if m := bytes.Index(data, mark); m >= 0 && (nl < 0 || m < nl) {
			return m + len(mark), data[:m+len(mark)], nil
		}
		if nl >= 0 {
			return nl + 1, bytes.TrimSuffix(data[:nl], []byte{'\r'}), nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		if len(data) >= maxLogLine {
			n := len(data) - len(mark) + 1 // never cut through a mark
			return n, data[:n], nil
		}
		return 0, nil, nil
	}
}

// output follows a php process's stdout and stderr.
type output struct {
	mark  []byte
	log   atomic.Pointer[zerolog.Logger] // where the output goes now: the job's logger
	marks [2]atomic.Int64                // end marks seen on stdout, stderr
	moved chan struct{}                  // a mark was seen (capacity 1)
	ended chan struct{}                  // both streams reached EOF

	mu      sync.Mutex
	startup *strings.Builder // output before the first mark, for a start-up error; nil after
}

// newOutput follows a process's output into log; with startup, it also keeps what comes
// before the first end mark.
func newOutput(mark []byte, log *zerolog.Logger, startup bool) *output {
	o := &output{mark: mark, moved: make(chan struct{}, 1), ended: make(chan struct{})}
	if startup {
		o.startup = &strings.Builder{}
	}
	o.log.Store(log)
	return o
}

// follow reads the streams until EOF, then closes o.ended.
func (o *output) follow(pid int, stdout, stderr io.Reader) {
	var wg sync.WaitGroup
	for i, r := range []io.Reader{stdout, stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.read(pid, i, r)
		}()
	}
	go func() {
		wg.Wait()
		close(o.ended)
	}()
}

var streamNames = [2]string{"stdout", "stderr"}

func (o *output) read(pid, stream int, r io.Reader) {
	defer io.Copy(io.Discard, r) // never leave php blocked on a full pipe
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 2*maxLogLine)
	sc.Split(splitOutput(o.mark))
	for sc.Scan() {
		tok := sc.Bytes()
		ended := bytes.HasSuffix(tok, o.mark)
		if ended {
			tok = tok[:len(tok)-len(o.mark)]
		}
		if len(tok) > 0 || !ended {
			o.mu.Lock()
			if o.startup != nil {
				o.startup.Write(tok)
				o.startup.WriteByte('\n')
			}
			o.mu.Unlock()
			o.log.Load().Info().Str("stream", streamNames[stream]).Int("php_pid", pid).Msg(string(tok))
		}
		if ended {
			o.mu.Lock()
			o.startup = nil
			o.mu.Unlock()
			o.marks[stream].Add(1)
			select {
			case o.moved <- struct{}{}:
			default:
			}
		}
	}
}

// await returns when both streams have shown n end marks, or reached EOF, or after
// outputWait.
func (o *output) await(n int64) {
	timeout := time.NewTimer(outputWait)
	defer timeout.Stop()
	for o.marks[0].Load() < n || o.marks[1].Load() < n {
		select {
		case <-o.moved:
		case <-o.ended:
			return
		case <-timeout.C:
			return
		}
	}
}

// startupOutput is what the process printed before its first end mark.
func (o *output) startupOutput() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.startup == nil {
		return ""
	}
	return o.startup.String()
}
