package phpjson

import (
	"math/rand/v2"
	"testing"
)

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
