package phpjson

import (
	"unicode/utf8"
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

// AppendString appends s as a JSON string exactly as PHP's json_encode
// writes it without flags: "/" becomes "\/", '"' and '\' are backslash-escaped,
// \b \f \n \r \t use their short escapes and other control characters are
// written \u00XX; every non-ASCII character is written as a lowercase \uXXXX
// escape (a UTF-16 surrogate pair above U+FFFF), since PHP does not set
// JSON_UNESCAPED_UNICODE. 0x7f and <>&' are written raw (no JSON_HEX_* flags).
// Like json_encode, which fails with JSON_ERROR_UTF8, it returns
// errInvalidUTF8 (and dst unchanged) when s is not valid UTF-8.
func AppendString(dst []byte, s string) ([]byte, error) {
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
