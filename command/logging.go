package command

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/rs/zerolog"
)

// newLogger is the only place zerolog is configured. php-resque logs job lines only with
// LOGGING/VERBOSE and adds its debug lines with VVERBOSE; goresque maps these to zerolog
// levels: nothing set → info (start, stop, failures, warnings), VERBOSE or LOGGING → debug
// (one line per job), VVERBOSE → trace. format "auto" (or "") is console on a terminal
// and JSON otherwise; resolve it with logFormat first when w is not the final output.
func newLogger(w io.Writer, verbose, vverbose bool, format string) zerolog.Logger {
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	if vverbose {
		level = zerolog.TraceLevel
	}
	if logFormat(w, format) == "console" {
		f, ok := w.(*os.File)
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.DateTime, FormatFieldValue: consoleValue,
			NoColor: !ok || !isTerminal(f)}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// logFormat resolves "auto" for w: console on a terminal, else json.
func logFormat(w io.Writer, format string) string {
	if format != "" && format != "auto" {
		return format
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return "console"
	}
	return "json"
}

// consoleValue writes a field value for people: zerolog's console writer quotes every
// string with a backslash, so PHP class names showed as class="App\\Jobs\\SendMail".
// A quoted value is shown unquoted unless quotes are needed to read it (a space, a
// quote, a control character).
func consoleValue(i any) string {
	s := fmt.Sprintf("%s", i)
	if len(s) < 2 || s[0] != '"' {
		return s
	}
	u, err := strconv.Unquote(s)
	if err != nil || u == "" {
		return s
	}
	for _, r := range u {
		if r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return s
		}
	}
	return u
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// heldWriter keeps what is written until release. The PHP bridge's start-up output goes
// through one: when the application fails to load, the error says it in one line, and
// the same PHP output is not logged a second time line by line.
type heldWriter struct {
	mu   sync.Mutex
	w    io.Writer
	held [][]byte
	hold bool
}

func newHeldWriter(w io.Writer) *heldWriter { return &heldWriter{w: w, hold: true} }

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		h.held = append(h.held, append([]byte(nil), p...))
		return len(p), nil
	}
	return h.w.Write(p)
}

// release writes what was held (keep) or drops it, and lets later writes through.
func (h *heldWriter) release(keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if keep {
		for _, p := range h.held {
			_, _ = h.w.Write(p)
		}
	}
	h.held, h.hold = nil, false
}

// phpErrorLine picks PHP's own error line from what a failed start-up printed (warnings
// and a stack trace come with it): the fatal or parse error, else the first line.
func phpErrorLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if strings.Contains(l, "Fatal error:") || strings.Contains(l, "Parse error:") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return lines[0]
}
