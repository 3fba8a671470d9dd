package compat

import (
	"bufio"
	"strings"
	"testing"
	"testing/iotest"
)

// splitOutput cuts lines and end marks also when they arrive a byte at a time, and logs an
// over-long line in pieces without ever cutting through a mark.
func TestSplitOutput(t *testing.T) {
	mark := newMark()
	long := strings.Repeat("x", maxLogLine+100)
	in := "one\r\ntwo" + string(mark) + string(mark) + "\n" + long + string(mark) + "tail"
	sc := bufio.NewScanner(iotest.OneByteReader(strings.NewReader(in)))
	sc.Buffer(make([]byte, 16), 2*maxLogLine)
	sc.Split(splitOutput(mark))
	var got []string
	var joined strings.Builder
	for sc.Scan() {
		tok := sc.Text()
		if m, ok := strings.CutSuffix(tok, string(mark)); ok {
			tok = m + "<END>"
		}
		if strings.HasPrefix(tok, "xxx") {
			joined.WriteString(tok)
			continue
		}
		got = append(got, tok)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "one|two<END>|<END>||tail"; strings.Join(got, "|") != want {
		t.Errorf("tokens %q, want %q", strings.Join(got, "|"), want)
	}
	if joined.String() != long+"<END>" {
		t.Errorf("long line: %d bytes back, want %d and its mark", joined.Len(), len(long))
	}
}
