package phpjson

// The payloads of the golden php-resque traces, encoded and transcoded as PHP did.

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
