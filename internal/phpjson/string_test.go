package phpjson

import (
	"errors"
	"testing"
)

func TestAppendPHPStringVectors(t *testing.T) {
	for _, c := range loadPHPVectors(t).String {
		got, err := AppendString([]byte("x"), c.In)
		if err != nil || string(got) != "x"+c.Want {
			t.Errorf("AppendString(%q) = %q, %v; want %q", c.In, got, err, c.Want)
		}
	}
	for _, s := range []string{"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "ok\x80"} {
		got, err := AppendString([]byte("x"), s)
		if !errors.Is(err, errInvalidUTF8) || string(got) != "x" {
			t.Errorf("AppendString(%q) = %q, %v; want errInvalidUTF8", s, got, err)
		}
	}
	if errInvalidUTF8.Error() != "resque: string is not valid UTF-8" {
		t.Errorf("errInvalidUTF8 = %q", errInvalidUTF8)
	}
}
