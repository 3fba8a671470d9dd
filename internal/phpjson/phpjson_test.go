package phpjson

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // fallback zone data, so the date tests run on systems without zoneinfo
)

// phpJSONTestdata is where the PHP JSON vectors live (module-level testdata).
const phpJSONTestdata = "../../testdata/phpjson"

type phpVectorCase struct {
	In    string `json:"in"`
	InB64 string `json:"in_b64"`
	Want  string `json:"want"`
	Err   string `json:"err"`
}

func (c phpVectorCase) input(t testing.TB) []byte {
	if c.InB64 != "" {
		b, err := base64.StdEncoding.DecodeString(c.InB64)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []byte(c.In)
}

type phpVectors struct {
	Transcode []phpVectorCase `json:"transcode"`
	Float     []phpVectorCase `json:"float"`
	String    []phpVectorCase `json:"string"`
}

// phpGoldenCase is a payload from the php-resque golden traces: either a
// payload PHP wrote (Payload, with its args[0] as PHP wrote it in Args0), or a
// foreign payload (Foreign) and how the PHP worker re-encoded it (Want, inside
// the worker record Record).
type phpGoldenCase struct {
	Name    string `json:"name"`
	Payload string `json:"payload"`
	Args0   string `json:"args0"`
	Foreign string `json:"foreign"`
	Want    string `json:"want"`
	Record  string `json:"record"`
}

func loadPHPVectors(t testing.TB) phpVectors {
	t.Helper()
	var v phpVectors
	loadPHPJSONFile(t, "vectors.json", &v)
	return v
}

func loadPHPGolden(t testing.TB) []phpGoldenCase {
	t.Helper()
	var v []phpGoldenCase
	loadPHPJSONFile(t, "golden.json", &v)
	return v
}

func loadPHPJSONFile(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(phpJSONTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

var phpErrKinds = map[string]error{
	"syntax": errPHPJSONSyntax,
	"ctrl":   errPHPJSONCtrlChar,
	"utf8":   errInvalidUTF8,
	"utf16":  errPHPJSONUTF16,
	"depth":  ErrDepth,
	"infnan": errPHPJSONInfNaN,
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..." + strconv.Itoa(len(s)) + " bytes"
	}
	return s
}

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

func TestAppendPHPFloatVectors(t *testing.T) {
	for _, c := range loadPHPVectors(t).Float {
		f, err := strconv.ParseFloat(c.In, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendPHPFloat([]byte("x"), f)
		if err != nil || string(got) != "x"+c.Want {
			t.Errorf("appendPHPFloat(%s) = %q, %v; want %q", c.In, got, err, c.Want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		got, err := appendPHPFloat([]byte("x"), f)
		if !errors.Is(err, errPHPJSONInfNaN) || string(got) != "x" {
			t.Errorf("appendPHPFloat(%v) = %q, %v; want errPHPJSONInfNaN", f, got, err)
		}
	}
	// The thresholds of the exponent form, next to their neighbours.
	for f, want := range map[float64]string{
		1e17:                    "1.0e+17",
		math.Nextafter(1e17, 0): "99999999999999980",
		1e-4:                    "0.0001",
		math.Nextafter(1e-4, 0): "9.999999999999999e-5",
		-1e-4:                   "-0.0001",
		1.5e17:                  "1.5e+17",
		123456789012345.6:       "123456789012345.6",
	} {
		if got, _ := appendPHPFloat(nil, f); string(got) != want {
			t.Errorf("appendPHPFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

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

// phpNegZeroToZero replaces the number -0 (not inside strings) in PHP's output
// with 0. json_encode writes the float -0.0 as -0, which json_decode reads back
// as the integer 0; it is the one value for which PHP's output is not a fixed
// point of json_encode(json_decode(...)).
func phpNegZeroToZero(b []byte) []byte {
	var out []byte
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr && c == '\\':
			out = append(out, c, b[i+1])
			i++
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && c == '-' && i+1 < len(b) && b[i+1] == '0' &&
			(i+2 == len(b) || strings.IndexByte(",]}", b[i+2]) >= 0):
			continue // drop the sign
		}
		out = append(out, c)
	}
	return out
}

// phpGoldenArgs are the Go values standing for the PHP arguments the golden
// scenarios enqueued, keyed by the scenario and RPUSH number.
var phpGoldenArgs = map[string]any{
	"03-enqueue-args-null n=3":  nil,
	"03-enqueue-args-null n=6":  []any{},
	"03-enqueue-args-null n=9":  map[string]any{},
	"03-enqueue-args-null n=12": Object{{"x", 1}},
	"04-enqueue-nested-args n=3": Object{
		{"user", Object{
			{"id", 42},
			{"roles", []string{"admin", "dev"}},
			{"meta", Object{{"a", nil}, {"b", true}, {"c", false}}},
		}},
		{"ints", []any{0, -1, int64(9007199254740993), int64(123456789012)}},
		{"floats", []any{1.0, 0.1, -2.5, 1e20, 3.14159265358979}},
		{"empty_list", []any{}},
		{"empty_obj", Object{}},
		{"sparse", map[int]string{0: "a", 2: "b"}},
		{"seq_obj", Object{{"0", "a"}, {"1", "b"}}},
		{"str_num", "007"},
		{"deep", []any{[]any{[]any{[]any{"x"}}}}},
	},
	"04-enqueue-nested-args n=6": []any{1, "two", map[string]any{"three": 3}},
	"05-enqueue-unicode-slashes n=3": Object{
		{"path", "/var/www/app/file.txt"},
		{"url", "https://example.com/a/b?c=d&e=f"},
		{"latin", "héllo wörld"},
		{"cjk", "日本語"},
		{"emoji", "😀 🚀"},
		{"quotes", `say "hi" it's <b>&amp;</b>`},
		{"backslash", `C:\temp\x`},
		{"control", "line1\nline2\ttab\r\x01\x1f"},
		{"nbsp_and_2028", "a\u00a0b\u2028c"},
	},
	"05-enqueue-unicode-slashes n=6": map[string]string{"q": "odd queue name"},
}

// phpMicrotimeFromJSON turns a queue_time as PHP wrote it back into the time
// microtime(true) was called at.
func phpMicrotimeFromJSON(t *testing.T, s string) time.Time {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	usec := 0
	if frac != "" {
		if usec, err = strconv.Atoi((frac + "000000")[:6]); err != nil {
			t.Fatal(err)
		}
	}
	return time.Unix(n, int64(usec)*1000)
}

func TestPHPJSONGolden(t *testing.T) {
	cases := loadPHPGolden(t)
	if len(cases) != 22 {
		t.Fatalf("%d golden cases, want 22", len(cases))
	}
	seen := 0
	for _, c := range cases {
		if c.Foreign != "" {
			// A foreign payload as the PHP worker re-encodes it.
			got, err := Transcode(nil, []byte(c.Foreign))
			if err != nil || string(got) != c.Want {
				t.Errorf("%s:\n got %s, %v\nwant %s", c.Name, got, err, c.Want)
			}
			// The whole worker record, with the payload as a RawMessage.
			var rec struct {
				Queue string `json:"queue"`
				RunAt string `json:"run_at"`
			}
			if err := json.Unmarshal([]byte(c.Record), &rec); err != nil {
				t.Fatal(err)
			}
			got, err = Encode(nil, Object{{"queue", rec.Queue}, {"run_at", rec.RunAt}, {"payload", json.RawMessage(c.Foreign)}})
			if err != nil || string(got) != c.Record {
				t.Errorf("%s record:\n got %s, %v\nwant %s", c.Name, got, err, c.Record)
			}
			continue
		}
		// PHP's own output is a fixed point of the transcoder.
		got, err := Transcode(nil, []byte(c.Payload))
		if err != nil || string(got) != c.Payload {
			t.Errorf("%s: transcode changed PHP's payload:\n got %s, %v\nwant %s", c.Name, got, err, c.Payload)
		}
		// Rebuild the payload from Go values as Resque::enqueue does.
		_, key, _ := strings.Cut(c.Name, "/")
		args, ok := phpGoldenArgs[key]
		if !ok {
			t.Errorf("no Go args for %s", c.Name)
			continue
		}
		seen++
		got, err = Encode(nil, args)
		if err != nil || string(got) != c.Args0 {
			t.Errorf("%s args:\n got %s, %v\nwant %s", c.Name, got, err, c.Args0)
		}
		var p struct {
			Class     string          `json:"class"`
			ID        string          `json:"id"`
			Prefix    *string         `json:"prefix"`
			QueueTime json.RawMessage `json:"queue_time"`
		}
		if err := json.Unmarshal([]byte(c.Payload), &p); err != nil {
			t.Fatal(err)
		}
		qt := AppendMicrotime(nil, phpMicrotimeFromJSON(t, string(p.QueueTime)))
		if string(qt) != string(p.QueueTime) {
			t.Errorf("%s: AppendMicrotime = %s, want %s", c.Name, qt, p.QueueTime)
		}
		payload := Object{{"class", p.Class}, {"args", []any{args}}, {"id", p.ID}}
		if p.Prefix != nil {
			payload = append(payload, Field{"prefix", *p.Prefix})
		}
		payload = append(payload, Field{"queue_time", json.RawMessage(qt)})
		got, err = Encode(nil, payload)
		if err != nil || string(got) != c.Payload {
			t.Errorf("%s payload:\n got %s, %v\nwant %s", c.Name, got, err, c.Payload)
		}
	}
	if seen != 2*len(phpGoldenArgs) {
		t.Errorf("checked %d golden payloads against Go values, want %d", seen, 2*len(phpGoldenArgs))
	}
}

type phpTestStruct struct {
	B   int    `json:"b"`
	A   string `json:"a"`
	Obj Object `json:"obj"`
	M   map[string]any
	F   float32 `json:"f"`
	Raw json.RawMessage
}

type phpTestText struct{ s string }

func (x phpTestText) MarshalText() ([]byte, error) { return []byte("text:" + x.s), nil }

type phpTestJSON struct{}

func (phpTestJSON) MarshalJSON() ([]byte, error) { return []byte(`{"z":{},"y":1.0}`), nil }

type phpTestJSONPtr struct{}

func (*phpTestJSONPtr) MarshalJSON() ([]byte, error) { return []byte(`"ptr"`), nil }

type (
	phpNamedString string
	phpNamedSlice  []string
	phpNamedMap    map[string]int
	phpNamedBytes  []byte
	phpNamedFloat  float64
)

func phpNested(levels int, inner any) any {
	v := inner
	for i := 0; i < levels; i++ {
		v = []any{v}
	}
	return v
}

func TestEncodePHPJSON(t *testing.T) {
	str := "p/s"
	strp := &str
	cyclic := []any{nil}
	cyclic[0] = cyclic
	cyclicMap := map[string]any{}
	cyclicMap["self"] = cyclicMap
	bigObj := Object{}
	for i := 0; i < 40; i++ {
		bigObj = append(bigObj, Field{strconv.Itoa(i % 30), i})
	}
	bigWant := "["
	for i := 0; i < 30; i++ {
		if i > 0 {
			bigWant += ","
		}
		if i < 10 {
			bigWant += strconv.Itoa(i + 30)
		} else {
			bigWant += strconv.Itoa(i)
		}
	}
	bigWant += "]"
	seqMap := map[string]any{}
	seqWant := "["
	for i := 0; i < 12; i++ {
		seqMap[strconv.Itoa(i)] = i
		if i > 0 {
			seqWant += ","
		}
		seqWant += strconv.Itoa(i)
	}
	seqWant += "]"

	tests := []struct {
		name string
		v    any
		want string
		err  error
	}{
		{"nil", nil, "null", nil},
		{"true", true, "true", nil},
		{"false", false, "false", nil},
		{"string", "a/b é 😀 \x7f<>&'\"\\", `"a\/b \u00e9 \ud83d\ude00 ` + "\x7f" + `<>&'\"\\"`, nil},
		{"empty string", "", `""`, nil},
		{"invalid utf8", "a\xff", "", errInvalidUTF8},
		{"number int", json.Number("42"), "42", nil},
		{"number -0", json.Number("-0"), "0", nil},
		{"number 1.0", json.Number("1.0"), "1", nil},
		{"number -0.0", json.Number("-0.0"), "-0", nil},
		{"number 1E2", json.Number("1E2"), "100", nil},
		{"number big", json.Number("12345678901234567890"), "1.2345678901234567e+19", nil},
		{"number max", json.Number("9223372036854775807"), "9223372036854775807", nil},
		{"number min", json.Number("-9223372036854775808"), "-9223372036854775808", nil},
		{"number empty", json.Number(""), "0", nil},
		{"number invalid", json.Number("01"), "", errPHPJSONNumber},
		{"number junk", json.Number("1x"), "", errPHPJSONNumber},
		{"number inf", json.Number("1e999"), "", errPHPJSONInfNaN},
		{"int", -7, "-7", nil},
		{"int8", int8(-128), "-128", nil},
		{"int16", int16(300), "300", nil},
		{"int32", int32(-1 << 31), "-2147483648", nil},
		{"int64 min", int64(math.MinInt64), "-9223372036854775808", nil},
		{"uint", uint(7), "7", nil},
		{"uint8", uint8(255), "255", nil},
		{"uint16", uint16(65535), "65535", nil},
		{"uint32", uint32(math.MaxUint32), "4294967295", nil},
		{"uint64 maxint", uint64(math.MaxInt64), "9223372036854775807", nil},
		{"uint64 big", uint64(math.MaxUint64), "1.8446744073709552e+19", nil},
		{"uintptr", uintptr(9), "9", nil},
		{"float 1", 1.0, "1", nil},
		{"float -0", math.Copysign(0, -1), "-0", nil},
		{"float 1e20", 1e20, "1.0e+20", nil},
		{"float nan", math.NaN(), "", errPHPJSONInfNaN},
		{"float32 0.1", float32(0.1), "0.1", nil},
		{"float32 big", float32(16777216), "16777216", nil},
		{"float32 1e20", float32(1e20), "1.0e+20", nil},
		{"float32 inf", float32(math.Inf(1)), "", errPHPJSONInfNaN},
		{"named float", phpNamedFloat(0.5), "0.5", nil},
		{"named string", phpNamedString("x/y"), `"x\/y"`, nil},
		{"empty list", []any{}, "[]", nil},
		{"nil list", []any(nil), "[]", nil},
		{"list", []any{1, "a", nil, []any{}}, `[1,"a",null,[]]`, nil},
		{"strings", []string{"a", "b"}, `["a","b"]`, nil},
		{"nil strings", []string(nil), `[]`, nil},
		{"ints", []int{1, 2}, `[1,2]`, nil},
		{"array", [2]int{3, 4}, `[3,4]`, nil},
		{"byte array", [3]byte{1, 2, 3}, `[1,2,3]`, nil},
		{"named slice", phpNamedSlice{"z"}, `["z"]`, nil},
		{"bytes", []byte("x"), "", errPHPJSONBytes},
		{"named bytes", phpNamedBytes("x"), "", errPHPJSONBytes},
		{"bytes in list", []any{1, []byte("x")}, "", errPHPJSONBytes},
		{"empty map", map[string]any{}, "[]", nil},
		{"nil map", map[string]any(nil), "[]", nil},
		{"map sorted", map[string]any{"b": 1, "a": 2, "é": 3}, `{"a":2,"b":1,"\u00e9":3}`, nil},
		{"map list", map[string]any{"1": "b", "0": "a"}, `["a","b"]`, nil},
		{"map list 12", seqMap, seqWant, nil},
		{"map not list", map[string]any{"1": "b", "2": "a"}, `{"1":"b","2":"a"}`, nil},
		{"map int keys first", map[string]any{"10": 1, "9": 2, "a": 3, "-1": 4, "01": 5, "-0": 6}, `{"-1":4,"9":2,"10":1,"-0":6,"01":5,"a":3}`, nil},
		{"map string int", map[string]int{"x": 1}, `{"x":1}`, nil},
		{"named map", phpNamedMap{"k": 2}, `{"k":2}`, nil},
		{"map int keys", map[int]string{1: "a", 0: "b"}, `["b","a"]`, nil},
		{"map int sparse", map[int]string{2: "a", -1: "b"}, `{"-1":"b","2":"a"}`, nil},
		{"map uint64 key", map[uint64]int{math.MaxUint64: 1, 3: 2}, `{"3":2,"18446744073709551615":1}`, nil},
		{"map bad key", map[string]any{"\xff": 1}, "", errInvalidUTF8},
		{"map float key", map[float64]int{1.5: 1}, "", nil}, // json.Marshal rejects it
		{"object empty", Object{}, "[]", nil},
		{"object nil", Object(nil), "[]", nil},
		{"object list", Object{{"0", "a"}, {"1", "b"}}, `["a","b"]`, nil},
		{"object reversed", Object{{"1", "a"}, {"0", "b"}}, `{"1":"a","0":"b"}`, nil},
		{"object sparse", Object{{"0", "a"}, {"2", "b"}}, `{"0":"a","2":"b"}`, nil},
		{"object order", Object{{"z", 1}, {"a", 2}}, `{"z":1,"a":2}`, nil},
		{"object dup", Object{{"a", 1}, {"b", 2}, {"a", 3}}, `{"a":3,"b":2}`, nil},
		{"object dup list", Object{{"0", "a"}, {"1", "b"}, {"0", "c"}}, `["c","b"]`, nil},
		{"object -0", Object{{"-0", "a"}}, `{"-0":"a"}`, nil},
		{"object 01", Object{{"01", "a"}}, `{"01":"a"}`, nil},
		{"object big dup", bigObj, bigWant, nil},
		{"object pointer", &Object{{"k", "v"}}, `{"k":"v"}`, nil},
		{"object nil pointer", (*Object)(nil), "null", nil},
		{"object bad key", Object{{"\xff", 1}}, "", errInvalidUTF8},
		{"object bad value", Object{{"k", math.Inf(1)}}, "", errPHPJSONInfNaN},
		{"fields slice", []Field{{"k", "v"}}, `[{"Key":"k","Value":"v"}]`, nil},
		{"raw", json.RawMessage(`{"a":{},"b":1.0,"c":"/"}`), `{"a":[],"b":1,"c":"\/"}`, nil},
		{"raw nil", json.RawMessage(nil), "null", nil},
		{"raw bad", json.RawMessage(`{`), "", errPHPJSONSyntax},
		{"raw pointer", &json.RawMessage{'[', ']'}, "[]", nil},
		{"struct", phpTestStruct{B: 1, A: "x/y", Obj: Object{{"0", 1}}, M: map[string]any{"1": 1}, F: 0.1, Raw: json.RawMessage(`{}`)},
			`{"b":1,"a":"x\/y","obj":[1],"M":{"1":1},"f":0.1,"Raw":[]}`, nil},
		{"struct pointer", &phpTestStruct{}, `{"b":0,"a":"","obj":[],"M":null,"f":0,"Raw":null}`, nil},
		{"html in struct", struct{ S string }{"<&>"}, `{"S":"<&>"}`, nil},
		{"marshaler", phpTestJSON{}, `{"z":[],"y":1}`, nil},
		{"pointer marshaler", &phpTestJSONPtr{}, `"ptr"`, nil},
		{"text marshaler", phpTestText{"a/b"}, `"text:a\/b"`, nil},
		{"time", time.Date(2026, 11, 26, 21, 12, 21, 0, time.UTC), `"2026-11-26T21:12:21Z"`, nil},
		{"pointer", strp, `"p\/s"`, nil},
		{"pointer pointer", &strp, `"p\/s"`, nil},
		{"nil pointer", (*int)(nil), "null", nil},
		{"any pointer", func() any { var x any = 5; return &x }(), "5", nil},
		{"chan", make(chan int), "", nil},
		{"depth 512", phpNested(511, []any{}), strings.Repeat("[", 512) + strings.Repeat("]", 512), nil},
		{"depth 513", phpNested(512, []any{}), "", ErrDepth},
		{"depth 513 map", phpNested(512, map[string]int{"a": 1}), "", ErrDepth},
		{"depth 513 object", phpNested(512, Object{}), "", ErrDepth},
		{"depth 513 strings", phpNested(512, []string{}), "", ErrDepth},
		{"depth raw ok", phpNested(500, json.RawMessage(strings.Repeat("[", 12)+strings.Repeat("]", 12))), strings.Repeat("[", 512) + strings.Repeat("]", 512), nil},
		{"depth raw", phpNested(500, json.RawMessage(strings.Repeat("[", 13)+strings.Repeat("]", 13))), "", ErrDepth},
		{"cyclic slice", cyclic, "", ErrDepth},
		{"cyclic map", cyclicMap, "", ErrDepth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode([]byte("x"), tc.v)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if string(got) != "x" {
					t.Fatalf("dst changed on error: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tc.want {
				t.Fatalf("\n got %s\nwant %s", got[1:], tc.want)
			}
			if !json.Valid(got[1:]) {
				t.Fatalf("invalid JSON %s", got[1:])
			}
		})
	}
	// Object's MarshalJSON writes what Encode writes.
	b, err := json.Marshal(Object{{"a", "é/"}})
	if err != nil || string(b) != `{"a":"\u00e9\/"}` {
		t.Errorf("json.Marshal(Object) = %s, %v", b, err)
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

// ---------------------------------------------------------------------------
// Differential test against the real php binary.

// phpBinary returns the php CLI, skipping the test when there is none (but
// failing under CI=true: a missing php must not give a green CI).
func phpBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("differential test against php skipped in -short mode")
	}
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("php is not on PATH (%v); the PHP differential test must run in CI", err)
		}
		t.Skipf("php is not on PATH (%v); install php-cli (8.2) to run the differential test", err)
	}
	return php
}

// phpDiffScript answers one request per input line:
//
//	T <base64 JSON>   json_encode(json_decode(JSON, true))
//	F <16 hex>        json_encode of the float64 with these big-endian bits
//	D <zone> <unix>   date('c') TAB strftime(...) in that zone
//	M <sec> <usec>    json_encode($sec + $usec / 1000000.00), like microtime(true)
//
// with "O <base64 output>" or "E <json_last_error_msg>".
const phpDiffScript = `<?php
$out = fopen("php://stdout", "w");
while (($line = fgets(STDIN)) !== false) {
	$f = explode(" ", rtrim($line, "\n"));
	switch ($f[0]) {
	case "T":
		$v = json_decode(base64_decode($f[1]), true);
		if (json_last_error() !== JSON_ERROR_NONE) { fwrite($out, "E " . json_last_error_msg() . "\n"); break; }
		$e = json_encode($v);
		if ($e === false) { fwrite($out, "E " . json_last_error_msg() . "\n"); break; }
		fwrite($out, "O " . base64_encode($e) . "\n");
		break;
	case "F":
		$e = json_encode(unpack("E", hex2bin($f[1]))[1]);
		if ($e === false) { fwrite($out, "E " . json_last_error_msg() . "\n"); break; }
		fwrite($out, "O " . base64_encode($e) . "\n");
		break;
	case "D":
		date_default_timezone_set($f[1]);
		$ts = (int)$f[2];
		fwrite($out, "O " . base64_encode(date("c", $ts) . "\t" . strftime("%a %b %d %H:%M:%S %Z %Y", $ts)) . "\n");
		break;
	case "M":
		fwrite($out, "O " . base64_encode(json_encode((int)$f[1] + (int)$f[2] / 1000000.00)) . "\n");
		break;
	default:
		fwrite($out, "E bad request\n");
	}
}
`

type phpDiffRequest struct {
	line  string // request line without newline
	check func(ok bool, out string) error
}

// runPHPDiff sends all requests to one php process and checks each answer.
func runPHPDiff(t *testing.T, reqs []phpDiffRequest) {
	t.Helper()
	php := phpBinary(t)
	script := filepath.Join(t.TempDir(), "phpjson.php")
	if err := os.WriteFile(script, []byte(phpDiffScript), 0o644); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for _, r := range reqs {
		in.WriteString(r.line)
		in.WriteByte('\n')
	}
	// -n: no php.ini, so the settings below are the only ones (as in production).
	cmd := exec.Command(php, "-n", "-d", "serialize_precision=-1", "-d", "precision=14",
		"-d", "error_reporting=22527", "-d", "display_errors=stderr", "-d", "memory_limit=1G", script)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("php stderr: %s", short(stderr.String()))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	i, failures := 0, 0
	for sc.Scan() {
		if i >= len(reqs) {
			t.Fatalf("php answered more lines than requests")
		}
		line := sc.Text()
		ok := strings.HasPrefix(line, "O ")
		res := line[2:]
		if ok {
			b, err := base64.StdEncoding.DecodeString(res)
			if err != nil {
				t.Fatal(err)
			}
			res = string(b)
		}
		if err := reqs[i].check(ok, res); err != nil {
			failures++
			if failures <= 30 {
				t.Errorf("request %d %s: %v", i, short(reqs[i].line), err)
			}
		}
		i++
	}
	if i != len(reqs) {
		t.Fatalf("php answered %d of %d requests", i, len(reqs))
	}
	if failures > 0 {
		t.Errorf("%d of %d requests differ from php", failures, len(reqs))
	}
	t.Logf("%d requests compared with %s", len(reqs), php)
}

func transcodeRequest(doc []byte) phpDiffRequest {
	return phpDiffRequest{
		line: "T " + base64.StdEncoding.EncodeToString(doc),
		check: func(ok bool, out string) error {
			got, err := Transcode(nil, doc)
			switch {
			case ok && err != nil:
				near := ""
				if pe := (*phpJSONError)(nil); errors.As(err, &pe) {
					near = string(doc[max(0, pe.offset-20):min(len(doc), pe.offset+40)])
				}
				return fmt.Errorf("doc %q: php wrote %q, we failed: %v (near %q)", short(string(doc)), short(out), err, near)
			case !ok && err == nil:
				return fmt.Errorf("doc %q: php failed (%s), we wrote %q", short(string(doc)), out, short(string(got)))
			case ok && string(got) != out:
				return fmt.Errorf("doc %q:\n php %q\n  go %q", short(string(doc)), out, got)
			}
			return nil
		},
	}
}

func floatRequest(f float64) phpDiffRequest {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], math.Float64bits(f))
	return phpDiffRequest{
		line: "F " + hex.EncodeToString(b[:]),
		check: func(ok bool, out string) error {
			got, err := appendPHPFloat(nil, f)
			if ok != (err == nil) || (ok && string(got) != out) {
				return fmt.Errorf("float %v (%#x): php %v %q, go %q %v", f, math.Float64bits(f), ok, out, got, err)
			}
			return nil
		},
	}
}

func TestPHPJSONDifferential(t *testing.T) {
	var reqs []phpDiffRequest
	r := rand.New(rand.NewPCG(20261126, 2112))

	// Transcoding: the table vectors, the golden payloads and random documents.
	v := loadPHPVectors(t)
	for _, c := range v.Transcode {
		reqs = append(reqs, transcodeRequest(c.input(t)))
	}
	for _, c := range loadPHPGolden(t) {
		reqs = append(reqs, transcodeRequest([]byte(c.Payload+c.Foreign)))
	}
	for i := 0; i < 600; i++ {
		doc := genPHPJSONDoc(r, i%40 == 0)
		if i%10 == 9 {
			doc = mutatePHPJSONDoc(r, doc)
		}
		reqs = append(reqs, transcodeRequest(doc))
	}

	// Floats: edge values, random bit patterns, and random values in the
	// ranges around the exponent thresholds.
	edges := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e17, 1e16, 1e-4, 1e-5, 1e15, 1e18, 1e20, 1e21, 1e22, 1e23,
		math.Nextafter(1e17, 0), math.Nextafter(1e17, 2e17), math.Nextafter(1e-4, 0), math.Nextafter(1e-4, 1),
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 2.225073858507201e-308,
		math.NaN(), math.Inf(1), math.Inf(-1), 9007199254740993, 1 << 53, 1 << 63, 1 << 64, 123456789012345678, 5e-324, 1e-323,
		0.30000000000000004, 1795727497.87009, 1795720000.5}
	for e := -330; e <= 310; e++ {
		edges = append(edges, math.Pow(10, float64(e)))
	}
	for _, f := range edges {
		reqs = append(reqs, floatRequest(f))
	}
	for i := 0; i < 3000; i++ {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		reqs = append(reqs, floatRequest(f))
	}
	for i := 0; i < 3000; i++ {
		// Short decimals of magnitude 1e-7..1e19, the common case.
		digits := r.Int64N(1e9)
		f := float64(digits) * math.Pow(10, float64(r.IntN(27)-16))
		if r.IntN(2) == 0 {
			f, _ = strconv.ParseFloat(strconv.FormatInt(digits, 10)+"e"+strconv.Itoa(r.IntN(27)-16), 64)
		}
		reqs = append(reqs, floatRequest(f))
	}

	// Dates in several zones.
	zones := []string{"UTC", "America/New_York", "Asia/Kolkata", "Europe/Amsterdam", "Australia/Lord_Howe", "Asia/Dubai", "America/St_Johns", "Pacific/Chatham"}
	stamps := []int64{0, 1795727497, 1784000000, 1711846800, 1730000000, 951782400, 2147483647, 2147483648, 4102444800}
	for i := 0; i < 40; i++ {
		stamps = append(stamps, r.Int64N(4102444800))
	}
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range stamps {
			tm := time.Unix(ts, 0).In(loc)
			want := DateISO8601(tm) + "\t" + DateStrftime(tm)
			reqs = append(reqs, phpDiffRequest{
				line: fmt.Sprintf("D %s %d", z, ts),
				check: func(ok bool, out string) error {
					if !ok || out != want {
						return fmt.Errorf("date %d in %s: php %q, go %q", ts, z, out, want)
					}
					return nil
				},
			})
		}
	}

	// microtime(true).
	for i := 0; i < 2000; i++ {
		sec := 1795720000 + r.Int64N(1e7)
		if i%50 == 0 {
			sec = r.Int64N(1 << 33)
		}
		usec := r.Int64N(1e6)
		switch i % 10 {
		case 0:
			usec = 0
		case 1:
			usec = r.Int64N(10) * 100000
		case 2:
			usec = r.Int64N(1000) * 1000
		}
		want := string(AppendMicrotime(nil, time.Unix(sec, usec*1000+r.Int64N(1000))))
		reqs = append(reqs, phpDiffRequest{
			line: fmt.Sprintf("M %d %d", sec, usec),
			check: func(ok bool, out string) error {
				if !ok || out != want {
					return fmt.Errorf("microtime %d.%06d: php %q, go %q", sec, usec, out, want)
				}
				return nil
			},
		})
	}
	runPHPDiff(t, reqs)
}

// ---------------------------------------------------------------------------
// Random JSON documents.

// genPHPJSONDoc returns a random JSON document exercising what PHP's
// json_decode/json_encode round trip changes: escapes, unicode, numbers of all
// forms, numeric and duplicate keys, empty containers, whitespace. deep makes
// a deeply nested document.
func genPHPJSONDoc(r *rand.Rand, deep bool) []byte {
	g := &phpDocGen{r: r}
	if deep {
		n := 400 + r.IntN(140) // around PHP's 511 limit
		for i := 0; i < n; i++ {
			if r.IntN(2) == 0 {
				g.b = append(g.b, '[')
				g.stack = append(g.stack, '[')
			} else {
				g.b = append(g.b, `{"0":`...)
				g.stack = append(g.stack, '{')
			}
		}
		g.value(3)
		for i := len(g.stack) - 1; i >= 0; i-- {
			if g.stack[i] == '[' {
				g.b = append(g.b, ']')
			} else {
				g.b = append(g.b, '}')
			}
		}
		return g.b
	}
	g.ws()
	g.value(0)
	g.ws()
	return g.b
}

type phpDocGen struct {
	r     *rand.Rand
	b     []byte
	stack []byte
}

func (g *phpDocGen) ws() {
	if g.r.IntN(6) == 0 {
		for n := g.r.IntN(3); n >= 0; n-- {
			g.b = append(g.b, " \t\n\r"[g.r.IntN(4)])
		}
	}
}

func (g *phpDocGen) value(depth int) {
	k := g.r.IntN(12)
	if depth > 5 {
		k = 4 + g.r.IntN(8)
	}
	switch k {
	case 0, 1, 2:
		g.object(depth)
	case 3:
		g.array(depth)
	case 4, 5:
		g.str(g.r.IntN(12))
	case 6, 7:
		g.integer()
	case 8, 9:
		g.float()
	case 10:
		g.b = append(g.b, []string{"true", "false", "null"}[g.r.IntN(3)]...)
	case 11:
		g.b = append(g.b, []string{"{}", "[]", "[{}]", `{"a":{}}`, `[[]]`}[g.r.IntN(5)]...)
	}
}

func (g *phpDocGen) array(depth int) {
	g.b = append(g.b, '[')
	n := g.r.IntN(6)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.value(depth + 1)
		g.ws()
	}
	g.b = append(g.b, ']')
}

func (g *phpDocGen) object(depth int) {
	g.b = append(g.b, '{')
	n := g.r.IntN(7)
	if g.r.IntN(8) == 0 {
		n = 10 + g.r.IntN(30) // past the duplicate-detection map threshold
	}
	style := g.r.IntN(4) // 0: list-like keys, 1: numeric-ish, 2/3: mixed
	var keys []string
	for i := 0; i < n; i++ {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		var key string
		switch {
		case len(keys) > 0 && g.r.IntN(8) == 0:
			key = keys[g.r.IntN(len(keys))] // duplicate
		case style == 0:
			key = strconv.Itoa(i)
			if g.r.IntN(10) == 0 {
				key = strconv.Itoa(i + 1)
			}
		case style == 1:
			key = []string{"0", "1", "2", "-1", "-0", "01", "00", "+1", " 1", "1 ", "1.0", "1e2", "9223372036854775807",
				"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616", strconv.Itoa(g.r.IntN(5))}[g.r.IntN(18)]
		default:
			key = ""
		}
		keys = append(keys, key)
		if key == "" && style >= 2 {
			g.str(g.r.IntN(6))
		} else {
			g.quoted(key)
		}
		g.ws()
		g.b = append(g.b, ':')
		g.ws()
		g.value(depth + 1)
		g.ws()
	}
	g.b = append(g.b, '}')
}

// quoted writes s as a JSON string, sometimes escaping characters needlessly.
func (g *phpDocGen) quoted(s string) {
	g.b = append(g.b, '"')
	for _, c := range []byte(s) {
		if g.r.IntN(6) == 0 {
			g.b = fmt.Appendf(g.b, `\u%04x`, c)
		} else {
			g.b = append(g.b, c)
		}
	}
	g.b = append(g.b, '"')
}

var phpGenRunes = []rune{'a', 'Z', '0', ' ', '/', '\\', '"', '\'', '<', '>', '&', 0x7f, 0, 1, 8, 9, 10, 12, 13, 0x1f,
	'é', 'ü', 0xa0, 0x2028, 0x2029, 0xfeff, 0xfffd, 0xffff, 0x65e5, 0x1f600, 0x1f680, 0x10000, 0x10ffff, 0xd7ff, 0xe000}

// str writes a random JSON string of n characters in varied spellings.
func (g *phpDocGen) str(n int) {
	g.b = append(g.b, '"')
	for i := 0; i < n; i++ {
		var c rune
		if g.r.IntN(3) == 0 {
			c = rune(0x20 + g.r.IntN(0x5f))
		} else {
			c = phpGenRunes[g.r.IntN(len(phpGenRunes))]
		}
		if g.r.IntN(5) == 0 {
			c = rune(g.r.IntN(0x110000))
			if c >= 0xd800 && c < 0xe000 {
				c = 'x'
			}
		}
		switch {
		case c == '"' || c == '\\':
			g.b = append(g.b, '\\', byte(c))
		case c == '/' && g.r.IntN(2) == 0:
			g.b = append(g.b, '\\', '/')
		case c < 0x20:
			short := map[rune]byte{8: 'b', 9: 't', 10: 'n', 12: 'f', 13: 'r'}
			if e, ok := short[c]; ok && g.r.IntN(2) == 0 {
				g.b = append(g.b, '\\', e)
			} else {
				g.b = fmt.Appendf(g.b, `\u%04X`, c)
			}
		case g.r.IntN(3) == 0: // \u escape, random case
			f := `\u%04x`
			if g.r.IntN(2) == 0 {
				f = `\u%04X`
			}
			if c >= 0x10000 {
				c -= 0x10000
				g.b = fmt.Appendf(g.b, f+f, 0xd800+(c>>10), 0xdc00+(c&0x3ff))
			} else {
				g.b = fmt.Appendf(g.b, f, c)
			}
		default:
			g.b = append(g.b, string(c)...)
		}
	}
	g.b = append(g.b, '"')
}

func (g *phpDocGen) integer() {
	switch g.r.IntN(8) {
	case 0:
		g.b = append(g.b, []string{"0", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
			"-9223372036854775809", "9007199254740993", "18446744073709551615", "99999999999999999999999"}[g.r.IntN(9)]...)
	case 1:
		// A long integer literal: a float in PHP (or Inf past ~309 digits).
		n := 19 + g.r.IntN(15)
		if g.r.IntN(20) == 0 {
			n = 300 + g.r.IntN(20)
		}
		if g.r.IntN(2) == 0 {
			g.b = append(g.b, '-')
		}
		g.b = append(g.b, byte('1'+g.r.IntN(9)))
		for i := 1; i < n; i++ {
			g.b = append(g.b, byte('0'+g.r.IntN(10)))
		}
	default:
		v := g.r.Int64() >> g.r.IntN(64)
		if g.r.IntN(2) == 0 {
			v = -v
		}
		g.b = strconv.AppendInt(g.b, v, 10)
	}
}

func (g *phpDocGen) float() {
	switch g.r.IntN(6) {
	case 0:
		g.b = append(g.b, []string{"1.0", "-0.0", "0.0", "1e20", "1E17", "1e16", "1e-5", "1E-4", "0.0001", "1e400", "-1e400",
			"1e-400", "-1e-400", "2.5E+3", "1.5e-7", "100.000", "0.1e1", "5e-324", "1.7976931348623157e308", "1.7976931348623159e308"}[g.r.IntN(20)]...)
	case 1:
		// A random decimal literal, possibly with many digits.
		if g.r.IntN(2) == 0 {
			g.b = append(g.b, '-')
		}
		g.b = strconv.AppendUint(g.b, g.r.Uint64N(1000000), 10)
		g.b = append(g.b, '.')
		for n := 1 + g.r.IntN(25); n > 0; n-- {
			g.b = append(g.b, byte('0'+g.r.IntN(10)))
		}
		if g.r.IntN(2) == 0 {
			g.b = append(g.b, "eE"[g.r.IntN(2)])
			g.b = append(g.b, []string{"", "+", "-"}[g.r.IntN(3)]...)
			g.b = strconv.AppendInt(g.b, int64(g.r.IntN(40)), 10)
		}
	default:
		f := math.Float64frombits(g.r.Uint64())
		if g.r.IntN(2) == 0 {
			f = g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(44)-22))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = 0.5
		}
		g.b = strconv.AppendFloat(g.b, f, "eEfg"[g.r.IntN(4)], -1, 64)
	}
}

// mutatePHPJSONDoc damages a document a little, for the error paths.
func mutatePHPJSONDoc(r *rand.Rand, doc []byte) []byte {
	doc = bytes.Clone(doc)
	if len(doc) == 0 {
		return []byte("{")
	}
	i := r.IntN(len(doc))
	switch r.IntN(5) {
	case 0:
		return doc[:i]
	case 1:
		doc[i] = []byte{0, 1, 0x80, 0xff, '"', '\\', ',', ']', '}', '{', 'x', 0xed}[r.IntN(12)]
		return doc
	case 2:
		return append(doc[:i:i], append([]byte(`\ud800`), doc[i:]...)...)
	case 3:
		return append(doc[:i:i], append([]byte{'\\'}, doc[i:]...)...)
	default:
		return append(doc, " x"[r.IntN(2)])
	}
}

// ---------------------------------------------------------------------------
// Benchmarks.

// phpBenchPayload is a typical ~200-byte php-resque payload.
const phpBenchPayload = `{"class":"App\\Jobs\\SendWelcomeMail","args":[{"user_id":123456,"email":"jane.doe@example.com","name":"Jane Doe","tags":["new","trial"],"url":"https://example.com/welcome"}],"id":"0123456789abcdef0123456789abcdef","queue_time":1795727497.87009}`

func BenchmarkTranscodePHPJSON(b *testing.B) {
	in := []byte(phpBenchPayload)
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Transcode(dst[:0], in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranscodePHPJSONUnicode(b *testing.B) {
	in := []byte(`{"class":"Harness_Succeed","args":[{"path":"/var/www/app/file.txt","latin":"héllo wörld","cjk":"日本語","emoji":"😀 🚀","esc":"\u00e9\/\n","n":[1.0,-0.0,1e20,12345678901234567890],"o":{"0":"a","1":"b"},"e":{}}],"id":"0123456789abcdef0123456789abcdef"}`)
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Transcode(dst[:0], in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranscodePHPJSONLarge(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var in []byte
	in = append(in, '[')
	for len(in) < 64<<10 {
		doc := genPHPJSONDoc(r, false)
		if _, err := Transcode(nil, doc); err != nil {
			continue
		}
		if len(in) > 1 {
			in = append(in, ',')
		}
		in = append(in, doc...)
	}
	in = append(in, ']')
	dst := make([]byte, 0, 2*len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Transcode(dst[:0], in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodePHPJSONPayload(b *testing.B) {
	args := Object{
		{"user_id", 123456},
		{"email", "jane.doe@example.com"},
		{"name", "Jane Doe"},
		{"tags", []any{"new", "trial"}},
		{"url", "https://example.com/welcome"},
	}
	payload := Object{
		{"class", `App\Jobs\SendWelcomeMail`},
		{"args", []any{args}},
		{"id", "0123456789abcdef0123456789abcdef"},
		{"queue_time", 1795727497.87009},
	}
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Encode(dst[:0], payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPHPFloat(b *testing.B) {
	dst := make([]byte, 0, 64)
	for b.Loop() {
		dst, _ = appendPHPFloat(dst[:0], 1795727497.87009)
	}
}
