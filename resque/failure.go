package resque

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goresque/goresque/internal/phpjson"
)

// failureRecord writes a `failed` entry as php-resque's Resque_Failure_Redis does:
// {"failed_at","payload","exception","error","backtrace":[...],"worker","queue"}, in that
// order, with the payload's raw bytes embedded unchanged.
//
// A payload that is not JSON (or that PHP could not decode inside the record: invalid UTF-8,
// nested too deep) cannot be embedded. php-resque records null there and loses the bytes;
// goresque writes it as a JSON string (invalid UTF-8 shown as U+FFFD) and adds a
// "payload_base64" field with the exact bytes, so the item can be inspected and replayed.
func failureRecord(d Dialect, failedAt time.Time, payload []byte, je *JobError, worker, queue string) ([]byte, error) {
	b := make([]byte, 0, len(payload)+256)
	b = append(b, `{"failed_at":`...)
	b, _ = phpjson.AppendString(b, d.date(failedAt))
	b = append(b, `,"payload":`...)
	embedded := embeddable(payload)
	if embedded {
		b = append(b, payload...)
	} else {
		b, _ = phpjson.AppendString(b, strings.ToValidUTF8(string(payload), "\uFFFD"))
	}
	var err error
	b = append(b, `,"exception":`...)
	if b, err = phpjson.AppendString(b, validUTF8(je.Exception)); err != nil {
		return nil, err
	}
	b = append(b, `,"error":`...)
	if b, err = phpjson.AppendString(b, validUTF8(je.Message)); err != nil {
		return nil, err
	}
	b = append(b, `,"backtrace":[`...)
	for i, line := range je.Backtrace {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = phpjson.AppendString(b, validUTF8(line)); err != nil {
			return nil, err
		}
	}
	b = append(b, `],"worker":`...)
	if b, err = phpjson.AppendString(b, worker); err != nil {
		return nil, err
	}
	b = append(b, `,"queue":`...)
	if b, err = phpjson.AppendString(b, queue); err != nil {
		return nil, err
	}
	if !embedded {
		b = append(b, `,"payload_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, payload)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// panicError turns a recovered panic into the failure php-resque v1.3.6 records for a
// PHP Error: class "Error", the panic value as message, the handler's frames as backtrace
// lines in the "#N file(line): function()" shape PHP's getTraceAsString uses. The
// handler's frames are those between the panic and executor.perform, which calls the
// handler; perform is recognised by its function's identity, not by
// matching stack text. It must be called from perform's deferred recover.
func panicError(v any) *JobError {
	performFunc := runtime.FuncForPC(reflect.ValueOf((*executor).perform).Pointer()).Name()
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	var bt []string
	inHandler := false
	for more := true; more; {
		var f runtime.Frame
		f, more = frames.Next()
		switch {
		case f.Function == "runtime.gopanic": // the frame that called panic is next
			inHandler = true
		case f.Function == performFunc:
			more = false
		case inHandler:
			bt = append(bt, "#"+strconv.Itoa(len(bt))+" "+f.File+"("+strconv.Itoa(f.Line)+"): "+f.Function+"()")
		}
	}
	bt = append(bt, "#"+strconv.Itoa(len(bt))+" {main}")
	msg := fmt.Sprint(v)
	if err, ok := v.(error); ok {
		msg = err.Error()
	}
	return &JobError{Exception: ExceptionPanic, Message: "panic: " + msg, Backtrace: bt}
}

func itoa(n int) string { return strconv.Itoa(n) }

func typeName(v any) string { return fmt.Sprintf("%T", v) }
