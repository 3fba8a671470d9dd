package phpjson

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
