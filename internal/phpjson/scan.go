package phpjson

import (
	"unicode/utf8"
)

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
