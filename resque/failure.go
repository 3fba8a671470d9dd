package resque

import (
	"encoding/base64"
	"fmt"
	"runtime/debug"
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
// PHP Error: class "Error", the panic value as message, the goroutine stack as backtrace
// lines in the "#N frame" shape PHP's getTraceAsString uses.
func panicError(v any) *JobError {
	stack := strings.Split(strings.TrimSpace(string(debug.Stack())), "\n")
	var bt []string
	// debug.Stack gives "goroutine N [running]:" then pairs of "func(...)" and
	// "\tfile:line +0x..". Keep the frames between panic(...) and the worker's own
	// perform: the handler's.
	inHandler := false
	for i := 1; i+1 < len(stack); i += 2 {
		fn := strings.TrimSpace(stack[i])
		loc := strings.TrimSpace(stack[i+1])
		if strings.HasPrefix(fn, "panic(") {
			inHandler = true
			continue
		}
		if !inHandler {
			continue
		}
		if strings.Contains(fn, "resque.(*executor).perform") {
			break
		}
		if j := strings.LastIndex(loc, " +0x"); j > 0 {
			loc = loc[:j]
		}
		file, line := loc, ""
		if k := strings.LastIndex(loc, ":"); k > 0 {
			file, line = loc[:k], loc[k+1:]
		}
		bt = append(bt, "#"+strconv.Itoa(len(bt))+" "+file+"("+line+"): "+fn)
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
