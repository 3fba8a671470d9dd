package command

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// newLogger is the only place zerolog is configured. php-resque logs job lines only with
// LOGGING/VERBOSE and adds its debug lines with VVERBOSE; goresque maps these to zerolog
// levels: nothing set → info (start, stop, failures, warnings), VERBOSE or LOGGING → debug
// (one line per job), VVERBOSE → trace.
func newLogger(w io.Writer, verbose, vverbose bool, format string) zerolog.Logger {
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	if vverbose {
		level = zerolog.TraceLevel
	}
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "console"
		}
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.DateTime}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
