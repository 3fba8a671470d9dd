package resque

// PHP-compatible JSON output.
//
// php-resque writes everything it stores in Redis with PHP's json_encode
// (no flags, serialize_precision=-1), and a worker writes back payloads after
// json_decode($payload, true) followed by json_encode. Whatever goresque writes
// where PHP reads it (or where PHP tools match it byte for byte, such as
// LREM in Resque::dequeue and ResqueScheduler::removeDelayed) must therefore be
// exactly what PHP 8.2 would have written. encoding/json differs in many ways
// (no "\/" escape, raw UTF-8, HTML escapes, float formatting, {} for empty
// maps, no list/map distinction by keys), so this file reimplements the PHP
// rules. Every rule below was checked against PHP 8.2's CLI (see
// phpjson_test.go, which runs a differential test against the php binary).

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Errors returned by the PHP JSON functions. Errors that refer to a position
// in the input are wrapped in a *phpJSONError; use errors.Is to test for them.
var (
	// errInvalidUTF8 mirrors JSON_ERROR_UTF8: json_encode (and json_decode)
	// fail on strings that are not valid UTF-8.
	errInvalidUTF8 = errors.New("resque: string is not valid UTF-8")
	// errPHPJSONInfNaN mirrors JSON_ERROR_INF_OR_NAN.
	errPHPJSONInfNaN = errors.New("resque: Inf and NaN cannot be JSON encoded")
	// errPHPJSONSyntax mirrors JSON_ERROR_SYNTAX.
	errPHPJSONSyntax = errors.New("resque: JSON syntax error")
	// errPHPJSONCtrlChar mirrors JSON_ERROR_CTRL_CHAR (a raw byte < 0x20 inside a string).
	errPHPJSONCtrlChar = errors.New("resque: JSON control character error")
	// errPHPJSONUTF16 mirrors JSON_ERROR_UTF16 (a lone \uD800-\uDFFF escape).
	errPHPJSONUTF16 = errors.New("resque: JSON single unpaired UTF-16 surrogate in unicode escape")
	// errPHPJSONDepth mirrors JSON_ERROR_DEPTH.
	errPHPJSONDepth = errors.New("resque: JSON maximum stack depth exceeded")
	// errPHPJSONBytes is returned for []byte values: PHP strings that are not
	// valid UTF-8 cannot be json_encoded, so there is no PHP value a byte
	// slice could safely stand for.
	errPHPJSONBytes = errors.New("resque: []byte cannot be encoded as a PHP value")
	// errPHPJSONNumber is returned for a json.Number that is not a JSON number.
	errPHPJSONNumber = errors.New("resque: invalid json.Number")
	// errPHPJSONTooLarge is returned for inputs of 4 GiB or more.
	errPHPJSONTooLarge = errors.New("resque: JSON input too large")
)

// phpJSONError adds the input offset to one of the sentinel errors above.
type phpJSONError struct {
	err    error
	offset int
}

// Error names the PHP error and where in the input it was found.
func (e *phpJSONError) Error() string {
	return e.err.Error() + " at offset " + strconv.Itoa(e.offset)
}

// Unwrap returns the sentinel, for errors.Is.
func (e *phpJSONError) Unwrap() error { return e.err }

// PHP's limits. json_decode($s, true) with its default $depth = 512 fails
// ("Maximum stack depth exceeded") as soon as arrays/objects nest 512 deep, so
// it accepts at most 511 levels; json_encode with its default depth 512
// accepts 512 levels of nested arrays and fails at 513.
const (
	phpJSONDecodeMaxNesting = 511
	phpJSONEncodeMaxNesting = 512
)

// phpHex is the digit set of PHP's json encoder (lowercase).
const phpHex = "0123456789abcdef"

// phpStrClass classifies bytes inside a JSON string, for both directions.
const (
	scSafe      = iota // written verbatim by json_encode and valid in input
	scEscape           // valid in input, but json_encode escapes it ('/')
	scQuote            // '"'
	scBackslash        // '\\'
	scCtrl             // 0x00-0x1f: invalid raw in input, escaped on output
	scHigh             // 0x80-0xff: start or part of a UTF-8 sequence
)

var phpStrClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20:
			t[c] = scCtrl
		case c == '"':
			t[c] = scQuote
		case c == '\\':
			t[c] = scBackslash
		case c == '/':
			t[c] = scEscape
		case c >= 0x80:
			t[c] = scHigh
		default:
			t[c] = scSafe // includes 0x7f, '<', '>', '&', '\''
		}
	}
	return t
}()

// appendPHPString appends s as a JSON string exactly as PHP's json_encode
// writes it without flags: "/" becomes "\/", '"' and '\' are backslash-escaped,
// \b \f \n \r \t use their short escapes and other control characters are
// written \u00XX; every non-ASCII character is written as a lowercase \uXXXX
// escape (a UTF-16 surrogate pair above U+FFFF), since PHP does not set
// JSON_UNESCAPED_UNICODE. 0x7f and <>&' are written raw (no JSON_HEX_* flags).
// Like json_encode, which fails with JSON_ERROR_UTF8, it returns
// errInvalidUTF8 (and dst unchanged) when s is not valid UTF-8.
func appendPHPString(dst []byte, s string) ([]byte, error) {
	orig := len(dst)
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if phpStrClass[c] == scSafe {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendPHPASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst[:orig], errInvalidUTF8
		}
		dst = append(dst, s[start:i]...)
		dst = appendPHPUnicode(dst, r)
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// appendPHPASCII appends the ASCII byte c as json_encode writes it inside a string.
func appendPHPASCII(dst []byte, c byte) []byte {
	if phpStrClass[c] == scSafe {
		return append(dst, c)
	}
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '/':
		return append(dst, '\\', '/')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', phpHex[c>>4], phpHex[c&0xf])
}

// appendPHPUnicode appends the code point r as json_encode writes it: ASCII
// via appendPHPASCII, everything else as \uXXXX with lowercase hex, using a
// surrogate pair above U+FFFF.
func appendPHPUnicode(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		return appendPHPASCII(dst, byte(r))
	}
	if r < 0x10000 {
		return appendPHPU4(dst, r)
	}
	r -= 0x10000
	dst = appendPHPU4(dst, 0xd800+(r>>10))
	return appendPHPU4(dst, 0xdc00+(r&0x3ff))
}

// appendPHPU4 appends the UTF-16 code unit r as \uXXXX with lowercase hex, as
// PHP's encoder does (it uses the digit string "0123456789abcdef").
func appendPHPU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', phpHex[r>>12&0xf], phpHex[r>>8&0xf], phpHex[r>>4&0xf], phpHex[r&0xf])
}

// appendPHPFloat appends f as PHP's json_encode writes a float with
// serialize_precision=-1 (PHP's default since 7.1). PHP calls
// php_gcvt(f, 17, '.', 'e') with zend_dtoa mode 0, i.e. the shortest digit
// string that round-trips, and then lays the digits out like this (decpt is
// the decimal exponent such that f = 0.DIGITS × 10^decpt):
//
//   - decpt < -3 or decpt > 17: exponent form with at least one fraction
//     digit and no exponent padding: 1.0e-5, 1.0e+17, 1.2345678901234567e+19;
//   - otherwise plain decimal notation, padded with zeros and without a
//     trailing ".0": 1, 0.0001, 10000000000000000, 99999999999999980.
//
// So values in [1e-4, 1e17) never use an exponent; 1e17 and above and below
// 1e-4 always do. -0.0 is written "-0". NaN and ±Inf make json_encode fail
// ("Inf and NaN cannot be JSON encoded"): errPHPJSONInfNaN is returned and
// dst is left unchanged.
func appendPHPFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, errPHPJSONInfNaN
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, '-', '0'), nil
		}
		return append(dst, '0'), nil
	}
	var buf [32]byte
	// Shortest round-trip digits in the form [-]d[.ddd]e±XX.
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	if b[0] == '-' {
		dst = append(dst, '-')
		b = b[1:]
	}
	e := bytes.IndexByte(b, 'e')
	first, rest := b[0], b[1:e]
	if len(rest) > 0 {
		rest = rest[1:] // drop '.'
	}
	exp := 0
	for _, c := range b[e+2:] {
		exp = exp*10 + int(c-'0')
	}
	if b[e+1] == '-' {
		exp = -exp
	}
	decpt := exp + 1
	switch {
	case decpt < -3 || decpt > 17:
		dst = append(dst, first, '.')
		if len(rest) == 0 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, rest...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(exp), 10)
	case decpt <= 0:
		dst = append(dst, '0', '.')
		for ; decpt < 0; decpt++ {
			dst = append(dst, '0')
		}
		dst = append(dst, first)
		dst = append(dst, rest...)
	default:
		dst = append(dst, first)
		decpt--
		if decpt >= len(rest) {
			dst = append(dst, rest...)
			for i := len(rest); i < decpt; i++ {
				dst = append(dst, '0')
			}
		} else {
			dst = append(dst, rest[:decpt]...)
			dst = append(dst, '.')
			dst = append(dst, rest[decpt:]...)
		}
	}
	return dst, nil
}

// appendPHPFloat32 writes a float32 as the PHP float a JSON document holding
// encoding/json's rendering of it would decode to: float32(0.1) is written
// 0.1, not 0.10000000149011612. PHP has no single-precision type, and this is
// also what the json.Marshal fallback of encodePHPJSON does for float32
// struct fields.
func appendPHPFloat32(dst []byte, f float32) ([]byte, error) {
	f64 := float64(f)
	if math.IsNaN(f64) || math.IsInf(f64, 0) {
		return dst, errPHPJSONInfNaN
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f64, 'g', -1, 32)
	f64, _ = strconv.ParseFloat(string(b), 64)
	return appendPHPFloat(dst, f64)
}

// appendPHPUint writes u as PHP would hold it: an integer when it fits PHP's
// signed 64-bit int, otherwise a float (json_decode turns integer literals
// above PHP_INT_MAX into floats the same way).
func appendPHPUint(dst []byte, u uint64) []byte {
	if u <= math.MaxInt64 {
		return strconv.AppendUint(dst, u, 10)
	}
	dst, _ = appendPHPFloat(dst, float64(u))
	return dst
}

// scanPHPNumber scans a JSON number starting at s[i] (PHP's json scanner
// grammar, which is RFC 8259's: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
// It returns the end offset, whether there was a fraction or exponent, and
// whether the number was well-formed.
func scanPHPNumber[T string | []byte](s T, i int) (end int, isFloat, ok bool) {
	n := len(s)
	if i < n && s[i] == '-' {
		i++
	}
	switch {
	case i >= n:
		return i, false, false
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		i++
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return i, false, false
	}
	if i < n && s[i] == '.' {
		i++
		if i >= n || s[i] < '0' || s[i] > '9' {
			return i, false, false
		}
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		isFloat = true
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= n || s[i] < '0' || s[i] > '9' {
			return i, false, false
		}
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		isFloat = true
	}
	return i, isFloat, true
}

// phpIntLiteralFits reports whether the integer literal lit (as accepted by
// scanPHPNumber, without fraction or exponent) fits PHP's int. This is the
// check of PHP's json scanner: fewer than 19 digits always fit, more never
// do, and 19 digits fit when below 9223372036854775808 (or equal to it with
// a minus sign). Literals that do not fit become floats (JSON_BIGINT_AS_STRING
// is not used by php-resque).
func phpIntLiteralFits[T string | []byte](lit T) bool {
	neg := len(lit) > 0 && lit[0] == '-'
	d := lit
	if neg {
		d = d[1:]
	}
	switch {
	case len(d) < 19:
		return true
	case len(d) > 19:
		return false
	}
	c := cmp.Compare(string(d), "9223372036854775808")
	return c < 0 || (c == 0 && neg)
}

// appendPHPNumberLiteral writes the JSON number literal s as PHP writes it
// after json_decode: an integer literal that fits PHP's int is written
// canonically ("-0" becomes 0), anything else is parsed as a float (correctly
// rounded, like zend_strtod) and written by appendPHPFloat.
func appendPHPNumberLiteral[T string | []byte](dst []byte, s T) ([]byte, error) {
	end, isFloat, ok := scanPHPNumber(s, 0)
	if !ok || end != len(s) {
		return dst, errPHPJSONNumber
	}
	if !isFloat && phpIntLiteralFits(s) {
		if len(s) == 2 && s[0] == '-' && s[1] == '0' {
			return append(dst, '0'), nil
		}
		return append(dst, s...), nil
	}
	f, _ := strconv.ParseFloat(string(s), 64) // well-formed; ±Inf on overflow
	return appendPHPFloat(dst, f)
}

// ---------------------------------------------------------------------------
// transcodePHPJSON

// Token kinds of the transcoder's tape.
const (
	tkNull uint8 = iota
	tkFalse
	tkTrue
	tkInt
	tkFloat
	tkString
	tkKey
	tkArray
	tkArrayEnd
	tkObject
	tkObjectEnd
)

// Token flags.
const (
	tfPlain uint8 = 1 << iota // string/key: the source bytes are written verbatim
	tfEsc                     // string/key: contains backslash escapes
	tfSkip                    // key: a later duplicate, dropped with its value
	tfList                    // object: keys are 0..n-1 in order, written as a list
	tfEmpty                   // object: no members, written as []
)

// phpTok is one tape entry. For strings, keys and integers [a,b) is the
// source span (string content without quotes); for other values a is the
// source offset. For an array or object start, b is the index of the matching
// end token. For a key, c (when non-zero) is the index of the value token that
// replaces this key's value (the value of the last duplicate of the key). For
// a float, c indexes phpTranscoder.floats.
type phpTok struct {
	kind, flag uint8
	a, b, c    uint32
}

// phpDecFrame is an open array or object during parsing.
type phpDecFrame struct {
	tok  uint32 // tape index of the start token
	obj  bool
	list bool   // object keys so far are "0", "1", ... in order
	uniq uint32 // distinct keys so far
	keys int    // start of this object's entries in phpTranscoder.keys
	m    map[string]uint32
}

// phpKeyRec is a distinct key of an open object: its decoded bytes are
// src[a:b] of the input (no escapes) or of the arena.
type phpKeyRec struct {
	a, b    uint32
	tok     uint32
	inArena bool
}

// phpCall records a jump in the emitter: after writing the subtree that ends
// before tape index done, continue at resume.
type phpCall struct {
	done, resume uint32
}

// phpKeyMapThreshold is the number of distinct keys after which an object's
// duplicate detection switches from a linear scan to a map.
const phpKeyMapThreshold = 16

type phpTranscoder struct {
	tape   []phpTok
	floats []float64
	frames []phpDecFrame
	keys   []phpKeyRec
	arena  []byte
	emit   []uint8
	calls  []phpCall
}

var phpTranscoderPool = sync.Pool{New: func() any { return new(phpTranscoder) }}

// phpTranscoderKeepTokens bounds the tape kept in the pool, so that one huge
// document does not pin its memory forever.
const phpTranscoderKeepTokens = 1 << 15

// transcodePHPJSON appends to dst exactly what PHP 8.2 writes for
// json_encode(json_decode(raw, true)); it is how a php-resque worker rewrites
// a payload it has popped (worker record, failed entry), and it turns any
// JSON into the bytes PHP would have produced for the same value.
//
// Mirrored PHP behaviour: objects become PHP arrays, so {} is written [],
// an object whose keys are "0", "1", ... "n-1" in that order is written as a
// list, other objects keep their key order; numeric-string keys become
// integer keys (canonical decimals in int64 range only: "01", "-0", "+1" stay
// strings), and a later duplicate key replaces the earlier value but keeps
// its position. Integer literals that fit int64 are written canonically ("-0"
// → 0), others and all literals with a fraction or exponent are floats
// (appendPHPFloat: 1.0 → 1, -0.0 → -0, 1E2 → 100, 12345678901234567890 →
// 1.2345678901234567e+19). Strings are re-escaped (appendPHPString).
//
// Errors (PHP's json_decode returns null, or json_encode false): invalid
// JSON, invalid UTF-8, raw control characters in strings, lone UTF-16
// surrogate escapes, nesting of 512 or more arrays/objects, and numbers that
// overflow to ±Inf (1e400) unless a duplicate key drops them before
// json_encode sees them. On error dst is returned unchanged.
//
// The parser is iterative (no recursion), so hostile nesting cannot exhaust
// the stack, and linear time: duplicate keys and list detection are resolved
// on a token tape before any output is written. dst must not overlap raw.
func transcodePHPJSON(dst, raw []byte) ([]byte, error) {
	return transcodePHPJSONDepth(dst, raw, 0)
}

// transcodePHPJSONDepth is transcodePHPJSON for a document that is nested in
// outer enclosing arrays of a value being json_encoded: raw itself may nest at
// most 511 levels (json_decode's limit) and outer plus the nesting of what is
// written at most 512 (json_encode's limit).
func transcodePHPJSONDepth(dst, raw []byte, outer int) ([]byte, error) {
	if uint64(len(raw)) >= math.MaxUint32 {
		return dst, errPHPJSONTooLarge
	}
	t := phpTranscoderPool.Get().(*phpTranscoder)
	out, err := dst, t.parse(raw)
	if err == nil {
		out, err = t.write(dst, raw, outer)
	}
	t.reset()
	if err != nil {
		return dst, err
	}
	return out, nil
}

// reset empties t and puts it back into the pool, unless a huge document
// grew its buffers.
func (t *phpTranscoder) reset() {
	if cap(t.tape) > phpTranscoderKeepTokens || cap(t.arena) > 1<<20 || cap(t.keys) > phpTranscoderKeepTokens {
		return // let the GC have it
	}
	t.tape = t.tape[:0]
	t.floats = t.floats[:0]
	clear(t.frames[:cap(t.frames)]) // drop key maps
	t.frames = t.frames[:0]
	t.keys = t.keys[:0]
	t.arena = t.arena[:0]
	t.emit = t.emit[:0]
	t.calls = t.calls[:0]
	phpTranscoderPool.Put(t)
}

// phpSkipWS skips JSON whitespace as PHP's scanner defines it: space, \t,
// \n and \r (no form feed, no BOM).
func phpSkipWS(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// phpErrAt wraps a sentinel error with the input offset.
func phpErrAt(err error, offset int) error { return &phpJSONError{err: err, offset: offset} }

// phpTokenErr is the error for an unexpected byte where a token starts:
// PHP's scanner reports a raw control character there as JSON_ERROR_CTRL_CHAR,
// anything else as JSON_ERROR_SYNTAX.
func phpTokenErr(raw []byte, i int) error {
	if i < len(raw) && raw[i] < 0x20 {
		return phpErrAt(errPHPJSONCtrlChar, i)
	}
	return phpErrAt(errPHPJSONSyntax, i)
}

// parse validates raw as json_decode does and fills the tape.
func (t *phpTranscoder) parse(raw []byte) error {
	n := len(raw)
	i := phpSkipWS(raw, 0)
value:
	for {
		// A value starts at i.
		if i >= n {
			return phpErrAt(errPHPJSONSyntax, i)
		}
		switch c := raw[i]; c {
		case '"':
			end, flag, err := scanPHPString(raw, i+1)
			if err != nil {
				return err
			}
			t.tape = append(t.tape, phpTok{kind: tkString, flag: flag, a: uint32(i + 1), b: uint32(end)})
			i = end + 1
		case '[', '{':
			if len(t.frames) >= phpJSONDecodeMaxNesting {
				return phpErrAt(errPHPJSONDepth, i)
			}
			kind := tkArray
			if c == '{' {
				kind = tkObject
			}
			t.frames = append(t.frames, phpDecFrame{tok: uint32(len(t.tape)), obj: c == '{', list: true, keys: len(t.keys)})
			t.tape = append(t.tape, phpTok{kind: kind, a: uint32(i)})
			i = phpSkipWS(raw, i+1)
			if i < n && raw[i] == c+2 { // ']' or '}'
				t.closeFrame()
				i++
				break
			}
			if c == '{' {
				var err error
				if i, err = t.parseKey(raw, i); err != nil {
					return err
				}
			}
			continue value
		case 't':
			if !bytes.HasPrefix(raw[i:], []byte("true")) {
				return phpErrAt(errPHPJSONSyntax, i)
			}
			t.tape = append(t.tape, phpTok{kind: tkTrue})
			i += 4
		case 'f':
			if !bytes.HasPrefix(raw[i:], []byte("false")) {
				return phpErrAt(errPHPJSONSyntax, i)
			}
			t.tape = append(t.tape, phpTok{kind: tkFalse})
			i += 5
		case 'n':
			if !bytes.HasPrefix(raw[i:], []byte("null")) {
				return phpErrAt(errPHPJSONSyntax, i)
			}
			t.tape = append(t.tape, phpTok{kind: tkNull})
			i += 4
		default:
			if c != '-' && (c < '0' || c > '9') {
				return phpTokenErr(raw, i)
			}
			end, isFloat, ok := scanPHPNumber(raw, i)
			if !ok {
				return phpErrAt(errPHPJSONSyntax, end)
			}
			if !isFloat && phpIntLiteralFits(raw[i:end]) {
				t.tape = append(t.tape, phpTok{kind: tkInt, a: uint32(i), b: uint32(end)})
			} else {
				// ±Inf on overflow: json_decode accepts it and json_encode
				// fails, unless a duplicate key has replaced it by then.
				f, _ := strconv.ParseFloat(string(raw[i:end]), 64)
				t.tape = append(t.tape, phpTok{kind: tkFloat, a: uint32(i), c: uint32(len(t.floats))})
				t.floats = append(t.floats, f)
			}
			i = end
		}
		// A value ended before i: close containers until one continues.
		for {
			i = phpSkipWS(raw, i)
			if len(t.frames) == 0 {
				if i != n {
					return phpTokenErr(raw, i)
				}
				return nil
			}
			if i >= n {
				return phpErrAt(errPHPJSONSyntax, i)
			}
			f := &t.frames[len(t.frames)-1]
			switch raw[i] {
			case ',':
				i = phpSkipWS(raw, i+1)
				if f.obj {
					var err error
					if i, err = t.parseKey(raw, i); err != nil {
						return err
					}
				}
				continue value
			case ']':
				if f.obj {
					return phpErrAt(errPHPJSONSyntax, i)
				}
			case '}':
				if !f.obj {
					return phpErrAt(errPHPJSONSyntax, i)
				}
			default:
				return phpTokenErr(raw, i)
			}
			t.closeFrame()
			i++
		}
	}
}

// parseKey parses `"key" :` at i (after whitespace) and returns the offset of
// the value after it. It records the key in the open object, resolving
// duplicates the way PHP's zend_symtable_update does.
func (t *phpTranscoder) parseKey(raw []byte, i int) (int, error) {
	if i >= len(raw) || raw[i] != '"' {
		return i, phpTokenErr(raw, i)
	}
	end, flag, err := scanPHPString(raw, i+1)
	if err != nil {
		return i, err
	}
	tok := uint32(len(t.tape))
	t.tape = append(t.tape, phpTok{kind: tkKey, flag: flag, a: uint32(i + 1), b: uint32(end)})
	rec := phpKeyRec{a: uint32(i + 1), b: uint32(end), tok: tok}
	if flag&tfEsc != 0 {
		a := len(t.arena)
		t.arena = appendPHPUnescaped(t.arena, raw[i+1:end])
		rec = phpKeyRec{a: uint32(a), b: uint32(len(t.arena)), tok: tok, inArena: true}
	}
	t.addKey(raw, rec)
	i = phpSkipWS(raw, end+1)
	if i >= len(raw) || raw[i] != ':' {
		return i, phpTokenErr(raw, i)
	}
	return phpSkipWS(raw, i+1), nil
}

// keyBytes returns the decoded bytes of a recorded key.
func (t *phpTranscoder) keyBytes(raw []byte, k phpKeyRec) []byte {
	if k.inArena {
		return t.arena[k.a:k.b]
	}
	return raw[k.a:k.b]
}

// addKey records key rec in the innermost (object) frame. In PHP's array
// model two JSON keys are the same array key exactly when their decoded bytes
// are equal (a canonical integer string and the integer it stands for have a
// single spelling), so duplicates are found by comparing decoded bytes.
func (t *phpTranscoder) addKey(raw []byte, rec phpKeyRec) {
	f := &t.frames[len(t.frames)-1]
	kb := t.keyBytes(raw, rec)
	first, found := uint32(0), false
	if f.m != nil {
		first, found = f.m[string(kb)]
	} else {
		for _, k := range t.keys[f.keys:] {
			if bytes.Equal(t.keyBytes(raw, k), kb) {
				first, found = k.tok, true
				break
			}
		}
	}
	if found {
		// The later value wins, written at the first key's position.
		t.tape[first].c = rec.tok + 1
		t.tape[rec.tok].flag |= tfSkip
		return
	}
	if f.list {
		f.list = isPHPIndex(kb, f.uniq)
	}
	f.uniq++
	t.keys = append(t.keys, rec)
	switch {
	case f.m != nil:
		f.m[string(kb)] = rec.tok
	case f.uniq > phpKeyMapThreshold:
		f.m = make(map[string]uint32, 2*f.uniq)
		for _, k := range t.keys[f.keys:] {
			f.m[string(t.keyBytes(raw, k))] = k.tok
		}
	}
}

// isPHPIndex reports whether key is the decimal spelling of k, i.e. whether
// it becomes PHP array key k.
func isPHPIndex[T string | []byte](key T, k uint32) bool {
	var buf [10]byte
	return string(key) == string(strconv.AppendUint(buf[:0], uint64(k), 10))
}

// closeFrame ends the innermost array or object: it links the start token to
// the end token and marks an object as empty ([]) or list-like, the way
// json_encode's zend_array_is_list check will see the PHP array.
func (t *phpTranscoder) closeFrame() {
	f := &t.frames[len(t.frames)-1]
	end := uint32(len(t.tape))
	start := &t.tape[f.tok]
	start.b = end
	if f.obj {
		t.tape = append(t.tape, phpTok{kind: tkObjectEnd})
		switch {
		case f.uniq == 0:
			t.tape[f.tok].flag |= tfEmpty
		case f.list:
			t.tape[f.tok].flag |= tfList
		}
		t.keys = t.keys[:f.keys]
	} else {
		t.tape = append(t.tape, phpTok{kind: tkArrayEnd})
	}
	*f = phpDecFrame{}
	t.frames = t.frames[:len(t.frames)-1]
}

// scanPHPString validates a JSON string body starting at raw[i] (after the
// opening quote) the way PHP's json scanner does and returns the offset of the
// closing quote and the token flags.
func scanPHPString(raw []byte, i int) (int, uint8, error) {
	flag := tfPlain
	n := len(raw)
	for i < n {
		switch phpStrClass[raw[i]] {
		case scSafe:
			i++
		case scQuote:
			return i, flag, nil
		case scEscape:
			flag &^= tfPlain
			i++
		case scBackslash:
			flag = flag&^tfPlain | tfEsc
			if i+1 >= n {
				return i, 0, phpErrAt(errPHPJSONSyntax, i)
			}
			switch raw[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := phpHex4(raw, i+2)
				if !ok {
					return i, 0, phpErrAt(errPHPJSONSyntax, i)
				}
				switch {
				case r >= 0xd800 && r < 0xdc00:
					if i+12 <= n && raw[i+6] == '\\' && raw[i+7] == 'u' {
						if lo, ok := phpHex4(raw, i+8); ok && lo >= 0xdc00 && lo < 0xe000 {
							i += 12
							continue
						}
					}
					return i, 0, phpErrAt(errPHPJSONUTF16, i)
				case r >= 0xdc00 && r < 0xe000:
					return i, 0, phpErrAt(errPHPJSONUTF16, i)
				}
				i += 6
			default:
				return i, 0, phpErrAt(errPHPJSONSyntax, i)
			}
		case scCtrl:
			return i, 0, phpErrAt(errPHPJSONCtrlChar, i)
		default: // scHigh
			flag &^= tfPlain
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return i, 0, phpErrAt(errInvalidUTF8, i)
			}
			i += size
		}
	}
	// PHP sees the end of input as a NUL byte: a control character.
	return i, 0, phpErrAt(errPHPJSONCtrlChar, i)
}

// phpHex4 parses 4 hex digits (either case) at raw[i:].
func phpHex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// phpStringEscape returns the byte an escape \c stands for, for the short escapes.
func phpStringEscape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // '"', '\\', '/'
}

// phpDecodeU returns the code point of the validated \u escape (or surrogate
// pair) at s[i:] and the escape's length.
func phpDecodeU(s []byte, i int) (rune, int) {
	r, _ := phpHex4(s, i+2)
	if r >= 0xd800 && r < 0xdc00 {
		lo, _ := phpHex4(s, i+8)
		return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), 12
	}
	return r, 6
}

// appendPHPUnescaped appends the decoded bytes of a validated JSON string body.
func appendPHPUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if s[i+1] != 'u' {
			dst = append(dst, phpStringEscape(s[i+1]))
			i += 2
			continue
		}
		r, size := phpDecodeU(s, i)
		dst = utf8.AppendRune(dst, r)
		i += size
	}
	return dst
}

// appendPHPStringBody writes a validated JSON string body s as json_encode
// writes the decoded string (without the quotes).
func appendPHPStringBody(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch phpStrClass[c] {
		case scSafe:
			i++
			continue
		case scBackslash:
			dst = append(dst, s[start:i]...)
			if s[i+1] != 'u' {
				dst = appendPHPASCII(dst, phpStringEscape(s[i+1]))
				i += 2
			} else {
				r, size := phpDecodeU(s, i)
				dst = appendPHPUnicode(dst, r)
				i += size
			}
		case scHigh:
			dst = append(dst, s[start:i]...)
			r, size := utf8.DecodeRune(s[i:])
			dst = appendPHPUnicode(dst, r)
			i += size
		default: // '/'; quotes and control bytes cannot occur raw
			dst = append(dst, s[start:i]...)
			dst = appendPHPASCII(dst, c)
			i++
		}
		start = i
	}
	return append(dst, s[start:]...)
}

// appendStr writes a string or key token as json_encode writes the decoded
// string, copying it verbatim when nothing in it changes.
func (t *phpTranscoder) appendStr(dst, raw []byte, tk *phpTok) []byte {
	dst = append(dst, '"')
	if tk.flag&tfPlain != 0 {
		dst = append(dst, raw[tk.a:tk.b]...)
	} else {
		dst = appendPHPStringBody(dst, raw[tk.a:tk.b])
	}
	return append(dst, '"')
}

// subtreeEnd returns the tape index just after the value at index v.
func (t *phpTranscoder) subtreeEnd(v uint32) uint32 {
	if k := t.tape[v].kind; k == tkArray || k == tkObject {
		return t.tape[v].b + 1
	}
	return v + 1
}

// Emitter frame bits.
const (
	efMore = 1 << iota // an element has been written: the next needs a comma
	efObj              // a JSON object (keys come from tkKey tokens)
	efList             // an object written as a list: keys are not written
)

// write emits the parsed tape as json_encode would. It fails, as json_encode
// does, on an infinite float and on nesting deeper than 512 including outer
// enclosing arrays; both are checked on what is written, since PHP encodes
// the array after duplicate keys have replaced values.
func (t *phpTranscoder) write(dst, raw []byte, outer int) ([]byte, error) {
	tape := t.tape
	st := t.emit[:0]
	calls := t.calls[:0]
	n := uint32(len(tape))
	for pc := uint32(0); pc < n; {
		tk := &tape[pc]
		if tk.kind == tkKey {
			if tk.flag&tfSkip != 0 {
				pc = t.subtreeEnd(pc + 1)
				continue
			}
			top := &st[len(st)-1]
			if *top&efMore != 0 {
				dst = append(dst, ',')
			}
			*top |= efMore
			if *top&efList == 0 {
				dst = t.appendStr(dst, raw, tk)
				dst = append(dst, ':')
			}
			if tk.c != 0 {
				calls = append(calls, phpCall{done: t.subtreeEnd(tk.c), resume: t.subtreeEnd(pc + 1)})
				pc = tk.c
			} else {
				pc++
			}
			continue
		}
		if tk.kind != tkArrayEnd && tk.kind != tkObjectEnd && len(st) > 0 {
			if top := &st[len(st)-1]; *top&efObj == 0 {
				if *top&efMore != 0 {
					dst = append(dst, ',')
				}
				*top |= efMore
			}
		}
		next := pc + 1
		switch tk.kind {
		case tkNull:
			dst = append(dst, "null"...)
		case tkFalse:
			dst = append(dst, "false"...)
		case tkTrue:
			dst = append(dst, "true"...)
		case tkInt:
			if tk.b-tk.a == 2 && raw[tk.a] == '-' && raw[tk.a+1] == '0' {
				dst = append(dst, '0')
			} else {
				dst = append(dst, raw[tk.a:tk.b]...)
			}
		case tkFloat:
			var err error
			if dst, err = appendPHPFloat(dst, t.floats[tk.c]); err != nil {
				return dst, phpErrAt(err, int(tk.a))
			}
		case tkString:
			dst = t.appendStr(dst, raw, tk)
		case tkArray:
			if outer+len(st) >= phpJSONEncodeMaxNesting {
				return dst, phpErrAt(errPHPJSONDepth, int(tk.a))
			}
			dst = append(dst, '[')
			st = append(st, 0)
			pc = next
			continue
		case tkObject:
			if outer+len(st) >= phpJSONEncodeMaxNesting {
				return dst, phpErrAt(errPHPJSONDepth, int(tk.a))
			}
			switch {
			case tk.flag&tfEmpty != 0:
				dst = append(dst, '[', ']')
				next = tk.b + 1
			case tk.flag&tfList != 0:
				dst = append(dst, '[')
				st = append(st, efObj|efList)
				pc = next
				continue
			default:
				dst = append(dst, '{')
				st = append(st, efObj)
				pc = next
				continue
			}
		case tkArrayEnd:
			dst = append(dst, ']')
			st = st[:len(st)-1]
		case tkObjectEnd:
			if st[len(st)-1]&efList != 0 {
				dst = append(dst, ']')
			} else {
				dst = append(dst, '}')
			}
			st = st[:len(st)-1]
		}
		pc = next
		for len(calls) > 0 && calls[len(calls)-1].done == pc {
			pc = calls[len(calls)-1].resume
			calls = calls[:len(calls)-1]
		}
	}
	t.emit = st
	t.calls = calls
	return dst, nil
}

// ---------------------------------------------------------------------------
// encodePHPJSON

// PHPObject is a PHP associative array with its insertion order kept: an
// ordered list of key/value pairs for encodePHPJSON, for values whose key
// order matters on the wire (a Go map has none, so maps are written with
// sorted keys). PHP's array rules apply when it is encoded: keys that are
// canonical decimal integers in int64 range ("0", "17", "-3"; not "01", "-0",
// "+1" or " 1") are integer keys; a later duplicate key replaces the earlier
// value but keeps its position; the array is written as a JSON list when its
// keys are exactly 0, 1, ..., n-1 in that order, as [] when empty, and
// otherwise as a JSON object (integer keys written as strings). Values may be
// anything encodePHPJSON accepts.
type PHPObject []PHPField

// PHPField is one key/value pair of a PHPObject.
type PHPField struct {
	Key   string
	Value any
}

// MarshalJSON writes o as PHP's json_encode would, so that a PHPObject nested
// in a struct keeps its order and PHP rules when the struct is marshalled.
func (o PHPObject) MarshalJSON() ([]byte, error) {
	return encodePHPJSON(nil, o)
}

// encodePHPJSON appends v as PHP's json_encode would write the PHP value that
// v stands for; it is what goresque uses for everything PHP reads back.
//
//   - nil → null; bool; string (appendPHPString: invalid UTF-8 fails, as in PHP);
//   - int and uint kinds: integers; a uint64 above PHP_INT_MAX becomes a
//     float, as PHP would hold it; float64 via appendPHPFloat, float32 via its
//     shortest float32 decimal (0.1, not 0.10000000149011612);
//   - json.Number: an integer literal that fits int64 stays an integer, other
//     literals become floats, as after json_decode; "" is 0 (as in encoding/json);
//   - slices and arrays: JSON lists ([] for nil); []byte is rejected
//     (errPHPJSONBytes): PHP has no byte strings json_encode can write;
//   - maps with string or integer keys: PHP arrays. Go maps have no order, so
//     keys are sorted, integer keys (canonical decimal strings) first in
//     numeric order, then the other keys bytewise; a map with keys 0..n-1 is
//     thus a list and an empty (or nil) map is [];
//   - PHPObject: an ordered PHP array (see PHPObject);
//   - json.RawMessage: transcodePHPJSON (an empty one is null);
//   - pointers and interfaces: what they point to (nil → null);
//   - anything else (structs, types with MarshalJSON or MarshalText, maps with
//     other keys): json.Marshal, then transcodePHPJSON, so struct field order
//     is kept. Note that json.Marshal replaces invalid UTF-8 with U+FFFD,
//     base64-encodes []byte fields and sorts map keys as strings there.
//
// Nesting deeper than json_encode's default depth of 512 fails with
// errPHPJSONDepth (this also stops self-referencing slices and maps). On
// error dst is returned unchanged.
func encodePHPJSON(dst []byte, v any) ([]byte, error) {
	n := len(dst)
	out, err := encodePHPValue(dst, v, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// encodePHPValue writes v, which is inside depth enclosing arrays.
func encodePHPValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendPHPString(dst, x)
	case json.Number:
		if x == "" {
			return append(dst, '0'), nil
		}
		return appendPHPNumberLiteral(dst, string(x))
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint:
		return appendPHPUint(dst, uint64(x)), nil
	case uint8:
		return appendPHPUint(dst, uint64(x)), nil
	case uint16:
		return appendPHPUint(dst, uint64(x)), nil
	case uint32:
		return appendPHPUint(dst, uint64(x)), nil
	case uint64:
		return appendPHPUint(dst, x), nil
	case uintptr:
		return appendPHPUint(dst, uint64(x)), nil
	case float64:
		return appendPHPFloat(dst, x)
	case float32:
		return appendPHPFloat32(dst, x)
	case []any:
		if depth+1 > phpJSONEncodeMaxNesting {
			return dst, errPHPJSONDepth
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = encodePHPValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		return encodePHPStringMap(dst, x, depth)
	case PHPObject:
		return encodePHPObject(dst, x, depth)
	case *PHPObject:
		if x == nil {
			return append(dst, "null"...), nil
		}
		return encodePHPObject(dst, *x, depth)
	case json.RawMessage:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		return transcodePHPJSONDepth(dst, x, depth)
	case []byte:
		return dst, errPHPJSONBytes
	case json.Marshaler, encoding.TextMarshaler:
		return encodePHPMarshal(dst, v, depth)
	}
	return encodePHPReflect(dst, v, depth)
}

// encodePHPMarshal writes v by way of json.Marshal and transcodePHPJSON.
func encodePHPMarshal(dst []byte, v any, depth int) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return transcodePHPJSONDepth(dst, b, depth)
}

// phpArrayKey is a map key with its PHP key type resolved.
type phpArrayKey struct {
	s     string
	i     int64
	isInt bool
}

// phpIntKey reports whether s is a PHP integer array key ("0", "17", "-3",
// but not "01", "-0", "+1", " 1" or anything outside int64), mirroring
// ZEND_HANDLE_NUMERIC_STR.
func phpIntKey(s string) (int64, bool) {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 || (d[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// newPHPArrayKey resolves the PHP key type of the string key s.
func newPHPArrayKey(s string) phpArrayKey {
	i, ok := phpIntKey(s)
	return phpArrayKey{s: s, i: i, isInt: ok}
}

// comparePHPArrayKeys orders integer keys numerically before string keys,
// which are ordered bytewise.
func comparePHPArrayKeys(a, b phpArrayKey) int {
	switch {
	case a.isInt && b.isInt:
		return cmp.Compare(a.i, b.i)
	case a.isInt:
		return -1
	case b.isInt:
		return 1
	}
	return cmp.Compare(a.s, b.s)
}

// phpKeysAreList reports whether sorted distinct keys are exactly 0..n-1.
func phpKeysAreList(keys []phpArrayKey) bool {
	for i, k := range keys {
		if !k.isInt || k.i != int64(i) {
			return false
		}
	}
	return true
}

// encodePHPStringMap writes a map[string]any as the PHP array it stands for,
// with the key order of comparePHPArrayKeys (Go maps have no order of their own).
func encodePHPStringMap(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if depth+1 > phpJSONEncodeMaxNesting {
		return dst, errPHPJSONDepth
	}
	if len(m) == 0 {
		return append(dst, '[', ']'), nil
	}
	keys := make([]phpArrayKey, 0, len(m))
	for k := range m {
		keys = append(keys, newPHPArrayKey(k))
	}
	slices.SortFunc(keys, comparePHPArrayKeys)
	list := phpKeysAreList(keys)
	return encodePHPPairs(dst, keys, list, depth, func(i int) any { return m[keys[i].s] })
}

// encodePHPPairs writes an ordered PHP array of distinct keys.
func encodePHPPairs(dst []byte, keys []phpArrayKey, list bool, depth int, val func(int) any) ([]byte, error) {
	if list {
		dst = append(dst, '[')
	} else {
		dst = append(dst, '{')
	}
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if !list {
			if dst, err = appendPHPString(dst, k.s); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
		}
		if dst, err = encodePHPValue(dst, val(i), depth+1); err != nil {
			return dst, err
		}
	}
	if list {
		return append(dst, ']'), nil
	}
	return append(dst, '}'), nil
}

// encodePHPObject writes o as json_encode writes the PHP array built by
// assigning its fields in order: duplicates keep the first position and the
// last value (zend_symtable_update), and zend_array_is_list decides between
// a JSON list and an object.
func encodePHPObject(dst []byte, o PHPObject, depth int) ([]byte, error) {
	if depth+1 > phpJSONEncodeMaxNesting {
		return dst, errPHPJSONDepth
	}
	if len(o) == 0 {
		return append(dst, '[', ']'), nil
	}
	// slot[u] is the index in o of the value of the u-th distinct key: the
	// last one given for that key, at the position of the first.
	var small [16]int
	slot := small[:0]
	var index map[string]int
	for i, f := range o {
		u := -1
		if index != nil {
			if j, ok := index[f.Key]; ok {
				u = j
			}
		} else {
			for j, s := range slot {
				if o[s].Key == f.Key {
					u = j
					break
				}
			}
		}
		if u >= 0 {
			slot[u] = i
			continue
		}
		slot = append(slot, i)
		if index != nil {
			index[f.Key] = len(slot) - 1
		} else if len(slot) > phpKeyMapThreshold {
			index = make(map[string]int, len(o))
			for j, s := range slot {
				index[o[s].Key] = j
			}
		}
	}
	list := true
	for u, s := range slot {
		if !isPHPIndex(o[s].Key, uint32(u)) {
			list = false
			break
		}
	}
	if list {
		dst = append(dst, '[')
	} else {
		dst = append(dst, '{')
	}
	for u, s := range slot {
		if u > 0 {
			dst = append(dst, ',')
		}
		var err error
		if !list {
			if dst, err = appendPHPString(dst, o[s].Key); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
		}
		if dst, err = encodePHPValue(dst, o[s].Value, depth+1); err != nil {
			return dst, err
		}
	}
	if list {
		return append(dst, ']'), nil
	}
	return append(dst, '}'), nil
}

var (
	phpJSONMarshalerType = reflect.TypeFor[json.Marshaler]()
	phpTextMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// phpIsMarshaler reports whether encoding/json would call a marshal method of t.
func phpIsMarshaler(t reflect.Type) bool {
	return t.Implements(phpJSONMarshalerType) || t.Implements(phpTextMarshalerType)
}

// encodePHPReflect handles the kinds the type switch of encodePHPValue does
// not: named types, pointers, and slices and maps of other element types.
func encodePHPReflect(dst []byte, v any, depth int) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k == reflect.Pointer || k == reflect.Interface {
		for hops := 0; ; hops++ {
			if rv.IsNil() {
				return append(dst, "null"...), nil
			}
			if hops > 64 {
				return dst, errors.New("resque: too many pointer indirections in " + reflect.TypeOf(v).String())
			}
			rv = rv.Elem()
			if k := rv.Kind(); (k != reflect.Pointer && k != reflect.Interface) || phpIsMarshaler(rv.Type()) {
				return encodePHPValue(dst, rv.Interface(), depth)
			}
		}
	}
	switch rv.Kind() {
	case reflect.Bool:
		return encodePHPValue(dst, rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return appendPHPUint(dst, rv.Uint()), nil
	case reflect.Float32:
		return appendPHPFloat32(dst, float32(rv.Float()))
	case reflect.Float64:
		return appendPHPFloat(dst, rv.Float())
	case reflect.String:
		return appendPHPString(dst, rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return dst, errPHPJSONBytes
		}
		fallthrough
	case reflect.Array:
		if depth+1 > phpJSONEncodeMaxNesting {
			return dst, errPHPJSONDepth
		}
		dst = append(dst, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = encodePHPValue(dst, rv.Index(i).Interface(), depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case reflect.Map:
		return encodePHPReflectMap(dst, rv, v, depth)
	}
	return encodePHPMarshal(dst, v, depth)
}

// encodePHPReflectMap writes a map with string or integer keys as a PHP array
// (integer map keys are PHP integer keys); maps with other keys go through
// json.Marshal.
func encodePHPReflectMap(dst []byte, rv reflect.Value, v any, depth int) ([]byte, error) {
	type entry struct {
		key phpArrayKey
		val reflect.Value
	}
	var mk func(reflect.Value) phpArrayKey
	switch rv.Type().Key().Kind() {
	case reflect.String:
		mk = func(k reflect.Value) phpArrayKey { return newPHPArrayKey(k.String()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		mk = func(k reflect.Value) phpArrayKey {
			i := k.Int()
			return phpArrayKey{s: strconv.FormatInt(i, 10), i: i, isInt: true}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		mk = func(k reflect.Value) phpArrayKey {
			return newPHPArrayKey(strconv.FormatUint(k.Uint(), 10))
		}
	default:
		return encodePHPMarshal(dst, v, depth)
	}
	if depth+1 > phpJSONEncodeMaxNesting {
		return dst, errPHPJSONDepth
	}
	if rv.Len() == 0 {
		return append(dst, '[', ']'), nil
	}
	entries := make([]entry, 0, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		entries = append(entries, entry{mk(it.Key()), it.Value()})
	}
	slices.SortFunc(entries, func(a, b entry) int { return comparePHPArrayKeys(a.key, b.key) })
	keys := make([]phpArrayKey, len(entries))
	for i, e := range entries {
		keys[i] = e.key
	}
	return encodePHPPairs(dst, keys, phpKeysAreList(keys), depth, func(i int) any { return entries[i].val.Interface() })
}

// ---------------------------------------------------------------------------
// Dates

// phpDateISO8601 formats t like PHP's date('c') in t's location, which
// php-resque v1.3.6 uses for worker start times, run_at and failed_at:
// "2026-11-26T21:12:21+00:00". PHP's 'P' offset is never "Z", and offsets
// with seconds (LMT) are truncated to minutes, as Go's -07:00 does.
func phpDateISO8601(t time.Time) string {
	return t.Format("2006-01-02T15:04:05-07:00")
}

// phpDateStrftime formats t like PHP's strftime('%a %b %d %H:%M:%S %Z %Y')
// in t's location, which php-resque 1.x (chrisboulton) uses for worker start
// times, run_at and failed_at: "Thu Nov 26 21:11:39 UTC 2026". The day is
// zero-padded, %Z is the zone abbreviation (t.Zone()), and %Y is the year
// without padding (year 1 is "1", unlike date('c')'s "0001").
func phpDateStrftime(t time.Time) string {
	b := make([]byte, 0, 32)
	b = t.AppendFormat(b, "Mon Jan 02 15:04:05 MST ")
	return string(strconv.AppendInt(b, int64(t.Year()), 10))
}

// appendPHPMicrotime appends t as json_encode writes PHP's microtime(true),
// the payload's queue_time: PHP computes (double)(tv_sec + tv_usec / 1e6)
// from gettimeofday (microseconds, truncated), so the same float is computed
// here and written by appendPHPFloat: 1795727497.87009, 1795720000.5, or
// 1795720000 when the microseconds are zero.
func appendPHPMicrotime(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	usec := t.Nanosecond() / 1000
	f := float64(sec) + float64(usec)/1000000.0
	dst, _ = appendPHPFloat(dst, f) // always finite
	return dst
}
