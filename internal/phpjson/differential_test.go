package phpjson

// Differential test against the real php binary, and the random documents it (and the
// fuzzers' seeds) use.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
