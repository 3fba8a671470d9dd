package phpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTranscodePHPJSONVectors(t *testing.T) {
	v := loadPHPVectors(t)
	if len(v.Transcode) < 100 {
		t.Fatalf("only %d transcode vectors", len(v.Transcode))
	}
	for _, c := range v.Transcode {
		in := c.input(t)
		prefix := []byte("prefix:")
		got, err := Transcode(prefix, in)
		if c.Err != "" {
			want := phpErrKinds[c.Err]
			if want == nil {
				t.Fatalf("unknown error kind %q", c.Err)
			}
			if !errors.Is(err, want) {
				t.Errorf("transcode(%q): err = %v, want %v", short(string(in)), err, want)
			}
			if string(got) != "prefix:" {
				t.Errorf("transcode(%q) failed but changed dst: %q", short(string(in)), got)
			}
			continue
		}
		if err != nil {
			t.Errorf("transcode(%q): %v", short(string(in)), err)
			continue
		}
		if string(got) != "prefix:"+c.Want {
			t.Errorf("transcode(%q)\n got %q\nwant %q", short(string(in)), got, "prefix:"+c.Want)
		}
		// PHP's own output is a fixed point, but for -0.
		again, err := Transcode(nil, []byte(c.Want))
		if want := phpNegZeroToZero([]byte(c.Want)); err != nil || string(again) != string(want) {
			t.Errorf("transcode(%q) = %q, %v; want %q", c.Want, again, err, want)
		}
	}
}

func TestTranscodePHPJSONHostile(t *testing.T) {
	// 10 MB of brackets: a depth error, found at once, without deep recursion.
	for _, open := range []string{"[", `{"a":`, `{"0":[`} {
		in := bytes.Repeat([]byte(open), 10<<20/len(open))
		start := time.Now()
		_, err := Transcode(nil, in)
		if !errors.Is(err, ErrDepth) {
			t.Errorf("%q x %d: err = %v, want depth error", open, len(in)/len(open), err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q: took %v", open, d)
		}
	}
	// 511 levels of objects written as lists, around a big string.
	big := strings.Repeat("x", 1<<20)
	in := strings.Repeat(`{"0":`, 511) + `"` + big + `"` + strings.Repeat("}", 511)
	want := strings.Repeat("[", 511) + `"` + big + `"` + strings.Repeat("]", 511)
	got, err := Transcode(nil, []byte(in))
	if err != nil || string(got) != want {
		t.Errorf("deep list objects: err = %v, output ok = %v", err, string(got) == want)
	}
	// Many duplicate keys in one big object stay linear. The time is compared
	// with a list of as many numbers, transcoded right before under the same
	// machine load (the race detector and parallel test packages make absolute
	// times meaningless); a quadratic duplicate check would be thousands of
	// times slower, not a few.
	var b, ref strings.Builder
	b.WriteString("{")
	ref.WriteString("[")
	const n = 200000
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
			ref.WriteString(",")
		}
		fmt.Fprintf(&b, `"%d":%d`, i%(n/2), i)
		fmt.Fprintf(&ref, `%d`, i)
	}
	b.WriteString("}")
	ref.WriteString("]")
	start := time.Now()
	if _, err := Transcode(nil, []byte(ref.String())); err != nil {
		t.Fatal(err)
	}
	refTime := time.Since(start)
	start = time.Now()
	got, err = Transcode(nil, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	var list []int
	if err := json.Unmarshal(got, &list); err != nil || len(list) != n/2 || list[0] != n/2 || list[n/2-1] != n-1 {
		t.Errorf("duplicate keys: err = %v, len = %d", err, len(list))
	}
	t.Logf("%d keys took %v, a list of %d numbers %v", n, d, n, refTime)
	if d > 25*refTime+100*time.Millisecond {
		t.Errorf("%d keys took %v: more than 25 times a list of %d numbers (%v)", n, d, n, refTime)
	}
}

func TestTranscodePHPJSONConcurrent(t *testing.T) {
	v := loadPHPVectors(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 20; rep++ {
				for _, c := range v.Transcode {
					got, err := Transcode(nil, c.input(t))
					if (err != nil) != (c.Err != "") || (err == nil && string(got) != c.Want) {
						t.Errorf("concurrent transcode(%q) = %q, %v", short(c.In), got, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
