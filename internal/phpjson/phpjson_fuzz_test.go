package phpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/goresque/goresque/internal/phpjson/phpjsontest"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTranscodePHPJSON checks that Transcode never panics, writes
// valid ASCII JSON, is idempotent (but for -0, see phpNegZeroToZero), accepts
// every valid UTF-8 document encoding/json accepts unless PHP would reject it
// too (nesting of 512 or more, a lone surrogate escape, a surviving number
// that overflows to Inf), and agrees with a simple recursive reference built
// on encoding/json's tokenizer and Encode.
func FuzzTranscodePHPJSON(f *testing.F) {
	for _, c := range loadPHPVectors(f).Transcode {
		f.Add(c.input(f))
	}
	for _, c := range loadPHPGolden(f) {
		f.Add([]byte(c.Payload + c.Foreign))
	}
	// Small random documents only: the fuzzer minimizes every new interesting
	// input, which takes long for big ones.
	r := rand.New(rand.NewPCG(7, 11))
	for added := 0; added < 50; {
		if doc := genPHPJSONDoc(r, false); len(doc) <= 256 {
			f.Add(doc)
			added++
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Transcode(nil, data)
		checkSkip(t, data, err)
		if err != nil {
			if utf8.Valid(data) && json.Valid(data) {
				checkPHPRejection(t, data, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("transcode(%q) = %q: not valid JSON", data, out)
		}
		for _, c := range out {
			if c >= utf8.RuneSelf {
				t.Fatalf("transcode(%q) = %q: not ASCII", data, out)
			}
		}
		again, err := Transcode(nil, out)
		if want := phpNegZeroToZero(out); err != nil || !bytes.Equal(again, want) {
			t.Fatalf("not idempotent: transcode(%q) = %q, then %q, %v", data, out, again, err)
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("transcode(%q) = %q, but encoding/json rejects it", data, out)
		}
		ref, err := phpReferenceTranscode(data)
		if err != nil || !bytes.Equal(ref, out) {
			t.Fatalf("transcode(%q)\n  got %q\n  ref %q, %v", data, out, ref, err)
		}
	})
}

// checkSkip verifies that Skip, the validator payload decoding uses, accepts
// a document exactly when json_decode does, failing with the same error as
// Transcode (whose only failure after parsing is a surviving Inf, which
// json_decode accepts).
func checkSkip(t *testing.T, data []byte, transcodeErr error) {
	t.Helper()
	end, err := Skip(data, SkipSpace(data, 0), DecodeMaxNesting)
	if i := SkipSpace(data, end); err == nil && i != len(data) {
		err = phpTokenErr(data, i)
	}
	if errors.Is(transcodeErr, errPHPJSONInfNaN) {
		transcodeErr = nil
	}
	if (err == nil) != (transcodeErr == nil) || err != nil && err.Error() != transcodeErr.Error() {
		t.Fatalf("Skip(%q): %v, but Transcode: %v", data, err, transcodeErr)
	}
}

// checkPHPRejection verifies that err, for a document encoding/json accepts,
// is one PHP would give too.
func checkPHPRejection(t *testing.T, data []byte, err error) {
	t.Helper()
	switch {
	case errors.Is(err, ErrDepth):
		if n := phpTestNesting(data); n <= DecodeMaxNesting {
			t.Fatalf("transcode(%q): %v, but nesting is only %d", data, err, n)
		}
	case errors.Is(err, errPHPJSONUTF16):
		if !phpjsontest.HasLoneSurrogate(data) {
			t.Fatalf("transcode(%q): %v, but there is no lone surrogate", data, err)
		}
	case errors.Is(err, errPHPJSONInfNaN):
		if !phpTestHasInf(data) {
			t.Fatalf("transcode(%q): %v, but no number overflows", data, err)
		}
	default:
		t.Fatalf("transcode(%q) of a valid UTF-8 document encoding/json accepts: %v", data, err)
	}
}

// phpTestNesting returns the maximum array/object nesting of a valid document.
func phpTestNesting(data []byte) int {
	depth, maxDepth, inStr := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '[' || c == '{':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return maxDepth
}

// phpTestHasInf reports whether a valid document has a number that
// overflows a float64.
func phpTestHasInf(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n, ok := tok.(json.Number); ok {
			if f, _ := strconv.ParseFloat(string(n), 64); math.IsInf(f, 0) {
				return true
			}
		}
	}
}

// phpReferenceTranscode is an independent, recursive transcoder: it reads
// the document with encoding/json's tokenizer into Object, []any and
// json.Number values (keeping key order and duplicates) and writes them with
// Encode. Only for valid UTF-8 documents without lone surrogates and
// with nesting below 512.
func phpReferenceTranscode(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := phpReferenceValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return Encode(nil, v)
}

func phpReferenceValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '[':
			list := []any{}
			for dec.More() {
				v, err := phpReferenceValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		case '{':
			obj := Object{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := phpReferenceValue(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, Field{k.(string), v})
			}
			_, err := dec.Token()
			return obj, err
		}
		return nil, errors.New("unexpected delimiter")
	}
	return tok, nil // nil, bool, string, json.Number
}

// FuzzAppendPHPString checks AppendString against encoding/json: the
// output is ASCII JSON that decodes to the input, and invalid UTF-8 fails.
func FuzzAppendPHPString(f *testing.F) {
	for _, c := range loadPHPVectors(f).String {
		f.Add(c.In)
	}
	f.Add("a\xffb")
	f.Add("\xed\xa0\x80")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := AppendString(nil, s)
		if !utf8.ValidString(s) {
			if !errors.Is(err, errInvalidUTF8) || len(out) != 0 {
				t.Fatalf("AppendString(%q) = %q, %v; want errInvalidUTF8", s, out, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendString(%q): %v", s, err)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil || back != s {
			t.Fatalf("AppendString(%q) = %q, decodes to %q, %v", s, out, back, err)
		}
		for _, c := range out {
			if c >= utf8.RuneSelf {
				t.Fatalf("AppendString(%q) = %q: not ASCII", s, out)
			}
		}
		if bytes.Contains(out, []byte("/")) && !bytes.Contains(out, []byte(`\/`)) {
			t.Fatalf("AppendString(%q) = %q: raw slash", s, out)
		}
		if again, err := Transcode(nil, out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("transcode(%q) = %q, %v", out, again, err)
		}
		if back := Unquote(out); back != s {
			t.Fatalf("Unquote(%q) = %q, want %q", out, back, s)
		}
		obj := append(append([]byte("{"), out...), ":1}"...)
		if key, next, err := Key(obj, 1); err != nil || !bytes.Equal(key, out) || obj[next] != '1' {
			t.Fatalf("Key(%q) = %q, %d, %v", obj, key, next, err)
		}
	})
}

// FuzzAppendPHPFloat checks that appendPHPFloat round-trips every finite
// float64 and uses the exponent form exactly outside [1e-4, 1e17).
func FuzzAppendPHPFloat(f *testing.F) {
	for _, v := range []float64{0, 1, 0.1, 1e17, 1e-5, 1e16, 1795727497.87009, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		out, err := appendPHPFloat(nil, v)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if !errors.Is(err, errPHPJSONInfNaN) {
				t.Fatalf("appendPHPFloat(%v) = %q, %v", v, out, err)
			}
			return
		}
		s := string(out)
		back, perr := strconv.ParseFloat(s, 64)
		if err != nil || perr != nil || math.Float64bits(back) != bits {
			t.Fatalf("appendPHPFloat(%v) = %q, %v: does not round-trip", v, s, err)
		}
		abs := math.Abs(v)
		exp := strings.Contains(s, "e")
		if wantExp := abs != 0 && (abs < 1e-4 || abs >= 1e17); exp != wantExp {
			t.Fatalf("appendPHPFloat(%v) = %q: exponent form %v, want %v", v, s, exp, wantExp)
		}
		if exp {
			mant, e, _ := strings.Cut(s, "e")
			if !strings.Contains(mant, ".") || (e[0] != '+' && e[0] != '-') || (len(e) > 2 && e[1] == '0') {
				t.Fatalf("appendPHPFloat(%v) = %q: bad exponent form", v, s)
			}
		} else if strings.HasSuffix(s, ".0") || (strings.Contains(s, ".") && strings.HasSuffix(s, "0")) {
			t.Fatalf("appendPHPFloat(%v) = %q: trailing zero fraction", v, s)
		}
	})
}
