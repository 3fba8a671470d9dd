package phpjson

import (
	"testing"
	"time"
	_ "time/tzdata" // fallback zone data, so the date tests run on systems without zoneinfo
)

// phpDateCase: expectations taken from PHP 8.2 (date('c') and
// strftime('%a %b %d %H:%M:%S %Z %Y') with date_default_timezone_set(Zone)).
var phpDateCases = []struct {
	zone     string
	unix     int64
	iso      string
	strftime string
}{
	{"UTC", 1795727497, "2026-11-26T21:11:37+00:00", "Thu Nov 26 21:11:37 UTC 2026"},
	{"UTC", 1784000000, "2026-07-14T03:33:20+00:00", "Tue Jul 14 03:33:20 UTC 2026"},
	{"UTC", 0, "1970-01-01T00:00:00+00:00", "Thu Jan 01 00:00:00 UTC 1970"},
	{"UTC", 253402300800, "10000-01-01T00:00:00+00:00", "Sat Jan 01 00:00:00 UTC 10000"},
	{"UTC", -62135596800, "0001-01-01T00:00:00+00:00", "Mon Jan 01 00:00:00 UTC 1"},
	{"America/New_York", 1795727497, "2026-11-26T16:11:37-05:00", "Thu Nov 26 16:11:37 EST 2026"},
	{"America/New_York", 1784000000, "2026-07-13T23:33:20-04:00", "Mon Jul 13 23:33:20 EDT 2026"},
	{"America/New_York", 0, "1969-12-31T19:00:00-05:00", "Wed Dec 31 19:00:00 EST 1969"},
	{"Asia/Kolkata", 1795727497, "2026-11-27T02:41:37+05:30", "Fri Nov 27 02:41:37 IST 2026"},
	{"Asia/Kolkata", 1784000000, "2026-07-14T09:03:20+05:30", "Tue Jul 14 09:03:20 IST 2026"},
	{"Asia/Dubai", 1795727497, "2026-11-27T01:11:37+04:00", "Fri Nov 27 01:11:37 +04 2026"},
	{"Australia/Lord_Howe", 1784000000, "2026-07-14T14:03:20+10:30", "Tue Jul 14 14:03:20 +1030 2026"},
	{"Europe/Amsterdam", 1795727497, "2026-11-26T22:11:37+01:00", "Thu Nov 26 22:11:37 CET 2026"},
	{"Europe/Amsterdam", -2000000000, "1906-08-16T20:46:12+00:19", "Thu Aug 16 20:46:12 AMT 1906"},
}

func TestPHPDates(t *testing.T) {
	for _, c := range phpDateCases {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		tm := time.Unix(c.unix, 123456789).In(loc)
		if got := DateISO8601(tm); got != c.iso {
			t.Errorf("DateISO8601(%d in %s) = %s, want %s", c.unix, c.zone, got, c.iso)
		}
		if got := DateStrftime(tm); got != c.strftime {
			t.Errorf("DateStrftime(%d in %s) = %s, want %s", c.unix, c.zone, got, c.strftime)
		}
	}
	// The README's and golden traces' dates (UTC server).
	for _, c := range []struct {
		tm   time.Time
		want string
		f    func(time.Time) string
	}{
		{time.Date(2026, 11, 26, 21, 11, 39, 0, time.UTC), "Thu Nov 26 21:11:39 UTC 2026", DateStrftime},
		{time.Date(2026, 11, 26, 21, 20, 34, 0, time.UTC), "Thu Nov 26 21:20:34 UTC 2026", DateStrftime},
		{time.Date(2026, 11, 26, 21, 12, 21, 0, time.UTC), "2026-11-26T21:12:21+00:00", DateISO8601},
		{time.Date(2026, 11, 26, 21, 21, 26, 0, time.UTC), "2026-11-26T21:21:26+00:00", DateISO8601},
	} {
		if got := c.f(c.tm); got != c.want {
			t.Errorf("date(%v) = %s, want %s", c.tm, got, c.want)
		}
	}
	if got := DateISO8601(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(9*3600+30*60)))); got != "2026-01-02T03:04:05-09:30" {
		t.Errorf("DateISO8601 fixed zone = %s", got)
	}
}

func TestAppendPHPMicrotime(t *testing.T) {
	for _, c := range []struct {
		sec, nsec int64
		want      string
	}{
		{1795727497, 870090000, "1795727497.87009"},
		{1795727497, 870090999, "1795727497.87009"}, // microseconds are truncated
		{1795720000, 500000000, "1795720000.5"},
		{1795720000, 0, "1795720000"},
		{1795720000, 999, "1795720000"},
		{1795727992, 866231000, "1795727992.866231"},
		{1795728037, 700160000, "1795728037.70016"},
		{0, 1000, "1.0e-6"},
		{-1, 500000000, "-0.5"},
	} {
		got := AppendMicrotime([]byte("x"), time.Unix(c.sec, c.nsec))
		if string(got) != "x"+c.want {
			t.Errorf("AppendMicrotime(%d.%09d) = %s, want %s", c.sec, c.nsec, got[1:], c.want)
		}
	}
}
