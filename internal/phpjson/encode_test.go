package phpjson

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
