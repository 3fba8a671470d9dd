package phpjson

import (
	"strconv"
	"time"
)

// DateISO8601 formats t like PHP's date('c') in t's location, which
// php-resque v1.3.6 uses for worker start times, run_at and failed_at:
// "2026-11-26T21:12:21+00:00". PHP's 'P' offset is never "Z", and offsets
// with seconds (LMT) are truncated to minutes, as Go's -07:00 does.
func DateISO8601(t time.Time) string {
	return t.Format("2006-01-02T15:04:05-07:00")
}

// DateStrftime formats t like PHP's strftime('%a %b %d %H:%M:%S %Z %Y')
// in t's location, which php-resque 1.x (chrisboulton) uses for worker start
// times, run_at and failed_at: "Thu Nov 26 21:11:39 UTC 2026". The day is
// zero-padded, %Z is the zone abbreviation (t.Zone()), and %Y is the year
// without padding (year 1 is "1", unlike date('c')'s "0001").
func DateStrftime(t time.Time) string {
	b := make([]byte, 0, 32)
	b = t.AppendFormat(b, "Mon Jan 02 15:04:05 MST ")
	return string(strconv.AppendInt(b, int64(t.Year()), 10))
}

// AppendMicrotime appends t as json_encode writes PHP's microtime(true),
// the payload's queue_time: PHP computes (double)(tv_sec + tv_usec / 1e6)
// from gettimeofday (microseconds, truncated), so the same float is computed
// here and written by appendPHPFloat: 1795727497.87009, 1795720000.5, or
// 1795720000 when the microseconds are zero.
func AppendMicrotime(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	usec := t.Nanosecond() / 1000
	f := float64(sec) + float64(usec)/1000000.0
	dst, _ = appendPHPFloat(dst, f) // always finite
	return dst
}
