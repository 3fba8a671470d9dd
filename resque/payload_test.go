package resque

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goresque/goresque/internal/phpjson"
	"github.com/goresque/goresque/internal/phpjson/phpjsontest"
)

func TestDecodePayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw        string
		class, id, pfx   string
		args             []string
		reason           string // PayloadError reason; "" for a valid job
		queueTimeSeconds int64
	}{
		{name: "php 1.x", raw: `{"class":"Harness_Succeed","args":[{"n":1}],"id":"0193d524379417754c47fec959e88cac","queue_time":1795727497.87009}`,
			class: "Harness_Succeed", id: "0193d524379417754c47fec959e88cac", args: []string{`{"n":1}`}, queueTimeSeconds: 1795727497},
		{name: "php 1.3 prefix", raw: `{"class":"A","args":[null],"id":"x","prefix":"tenant1","queue_time":1}`, class: "A", id: "x", pfx: "tenant1", args: []string{"null"}, queueTimeSeconds: 1},
		{name: "ruby positional", raw: `{"class":"A","args":["positional",2]}`, class: "A", args: []string{`"positional"`, "2"}},
		{name: "no args", raw: `{"class":"A"}`, class: "A"},
		{name: "escaped class", raw: `{"class":"App\\Jobs\\SendMail","args":[[]]}`, class: `App\Jobs\SendMail`, args: []string{"[]"}},
		{name: "unicode escapes", raw: `{"class":"\u00e9t\u00e9","args":[]}`, class: "été"},
		{name: "spaces and unknown fields", raw: " {\n \"x\" : {\"class\":\"nested\"} , \"class\" : \"A\" , \"args\" : [ 1 , {\"a\" : [ ] } ] } \n",
			class: "A", args: []string{"1", `{"a" : [ ] }`}},
		{name: "numeric id", raw: `{"class":"A","id":123}`, class: "A", id: "123"},
		{name: "duplicate key: last wins", raw: `{"class":"A","class":"B"}`, class: "B"},
		{name: "keys are case-sensitive, as PHP arrays", raw: `{"class":"A","Args":[1]}`, class: "A"},
		{name: "not JSON", raw: `hello`, reason: "not JSON"},
		{name: "empty", raw: ``, reason: "empty"},
		{name: "truncated", raw: `{"class":"A","args":[1`, reason: "not JSON"},
		{name: "trailing data", raw: `{"class":"A"} x`, reason: "not JSON"},
		{name: "array", raw: `[1,2]`, reason: "not a JSON object"},
		{name: "string", raw: `"x"`, reason: "not a JSON object"},
		{name: "no class", raw: `{"args":[]}`, reason: `no "class" field`},
		{name: "null class", raw: `{"class":null}`, reason: `no "class" field`},
		{name: "class not a string", raw: `{"class":42}`, reason: `"class" is not a string`},
		{name: "empty class", raw: `{"class":""}`, reason: `"class" is empty`},
		{name: "args object", raw: `{"class":"A","args":{"a":1}}`, reason: `"args" is not an array`},
		{name: "args string", raw: `{"class":"A","args":"x"}`, reason: `"args" is not an array`},
		{name: "invalid utf-8", raw: "{\"class\":\"A\xff\"}", reason: "not valid UTF-8"},
		{name: "raw control char", raw: "{\"class\":\"A\x01\"}", reason: "not JSON"},
		{name: "bad escape", raw: `{"class":"\q"}`, reason: "not JSON"},
		{name: "leading zero", raw: `{"class":"A","n":01}`, reason: "not JSON"},
		{name: "surrogate pair", raw: `{"class":"A\ud83d\ude00","id":"\u00e9"}`, class: "A\U0001F600", id: "é"},
		// json_decode fails on a lone surrogate escape (JSON_ERROR_UTF16); encoding/json would
		// accept it, so goresque used to run a job whose records PHP could not read back.
		{name: "lone high surrogate", raw: `{"class":"A","args":["\ud800"]}`, reason: "not JSON"},
		{name: "lone low surrogate", raw: `{"class":"A","id":"\udc00x"}`, reason: "not JSON"},
		{name: "too deep", raw: `{"class":"A","args":[` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `]}`, reason: "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := decodePayload("q", []byte(tc.raw))
			if !bytes.Equal(j.Payload(), []byte(tc.raw)) {
				t.Errorf("raw bytes not kept")
			}
			if tc.reason != "" {
				var pe *PayloadError
				if !errors.As(err, &pe) || pe.Reason != tc.reason {
					t.Fatalf("err = %v, want reason %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.Class != tc.class || j.ID != tc.id || j.Prefix != tc.pfx {
				t.Errorf("class %q id %q prefix %q", j.Class, j.ID, j.Prefix)
			}
			var args []string
			for _, a := range j.Args() {
				args = append(args, string(a))
			}
			if strings.Join(args, "|") != strings.Join(tc.args, "|") {
				t.Errorf("args %q, want %q", args, tc.args)
			}
			if tc.queueTimeSeconds != 0 && j.QueueTime.Unix() != tc.queueTimeSeconds {
				t.Errorf("queue time %v", j.QueueTime)
			}
		})
	}
}

// FuzzDecodePayload checks the hand-written scanner against encoding/json: it accepts
// exactly the valid JSON documents that PHP can decode (up to PHP's nesting limit, no lone
// surrogate escapes) and extracts the same fields.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		`{"class":"A","args":[{"n":1}],"id":"0193d524379417754c47fec959e88cac","queue_time":1795727497.87009}`,
		`{"class":"A","args":["x",2,true,null,{"a":[1.5e3,-0]}]}`,
		`{"class":"\u00e9\"\\\/","args":[]}`, `{"class":"A","args":["\ud800"]}`, `{"class":"\ud83d\ude00"}`, `[1]`, `{"class":1}`, `{}`, ` {"a" : "b" } `, `{"class":"A","args":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		j, err := decodePayload("q", raw)
		// PHP's json_decode, unlike encoding/json, rejects invalid UTF-8 and lone UTF-16
		// surrogate escapes.
		valid := json.Valid(raw) && utf8.Valid(raw) && depthOf(raw) <= phpjson.DecodeMaxNesting && !phpjsontest.HasLoneSurrogate(raw)
		var pe *PayloadError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error of another type: %v", err)
		}
		notJSON := pe != nil && (pe.Reason == "not JSON" || pe.Reason == "empty" || pe.Reason == "not valid UTF-8")
		if valid == notJSON {
			t.Fatalf("json.Valid=%v (depth %d) but decodePayload: %v", valid, depthOf(raw), err)
		}
		if err != nil {
			return
		}
		// PHP reads $payload['class'] and $payload['args'] case-sensitively (encoding/json's
		// struct fields would not), the last duplicate winning.
		var top map[string]json.RawMessage
		if e := json.Unmarshal(raw, &top); e != nil {
			t.Fatalf("accepted, but encoding/json: %v", e)
		}
		var ref struct {
			Class string
			Args  []json.RawMessage
		}
		if e := json.Unmarshal(top["class"], &ref.Class); e != nil {
			t.Fatalf("class: %v", e)
		}
		if a, ok := top["args"]; ok && string(a) != "null" {
			if e := json.Unmarshal(a, &ref.Args); e != nil {
				t.Fatalf("args: %v", e)
			}
		}
		if ref.Class != j.Class || len(ref.Args) != len(j.Args()) {
			t.Fatalf("class %q/%q args %d/%d", j.Class, ref.Class, len(j.Args()), len(ref.Args))
		}
		for i := range ref.Args {
			if !bytes.Equal(bytes.TrimSpace(ref.Args[i]), j.Args()[i]) {
				t.Fatalf("arg %d: %s vs %s", i, j.Args()[i], ref.Args[i])
			}
		}
	})
}

// depthOf is the nesting depth of a valid JSON document.
func depthOf(raw []byte) int {
	dec := json.NewDecoder(bytes.NewReader(raw))
	depth, maxDepth := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return maxDepth
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			maxDepth = max(maxDepth, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

// TestEmbeddable checks which payloads a failed entry embeds as JSON: exactly those PHP can
// json_decode inside the record, which nests them one level deeper.
func TestEmbeddable(t *testing.T) {
	t.Parallel()
	nested := func(levels int) string { return strings.Repeat("[", levels) + strings.Repeat("]", levels) }
	for _, tc := range []struct {
		name, raw string
		want      bool
	}{
		{"payload", `{"class":"A","args":[{"n":1}]}`, true},
		{"surrogate pair", `{"class":"A","args":["\ud83d\ude00"]}`, true},
		{"lone surrogate", `{"class":"A","args":["\ud800"]}`, false},
		{"not JSON", `{"class":`, false},
		{"invalid UTF-8", "\"\xff\"", false},
		{"510 levels", nested(510), true},
		{"511 levels", nested(511), false},
	} {
		if got := embeddable([]byte(tc.raw)); got != tc.want {
			t.Errorf("%s: embeddable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
