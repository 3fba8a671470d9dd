package phpjson

import (
	"unicode/utf8"
)

// SkipSpace returns the offset of the first byte at or after i that is not
// JSON whitespace as PHP's scanner defines it: space, \t, \n and \r (no form
// feed, no BOM).
func SkipSpace(raw []byte, i int) int {
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

// scanScalar scans the string, number or literal that starts at raw[i]
// (i < len(raw), raw[i] is not '[' or '{') as PHP's json scanner does. It
// returns the token kind (tkString, tkInt for an integer literal that fits
// PHP's int, tkFloat for any other number, tkTrue, tkFalse, tkNull), the
// offset just after the token and, for a string, its flags (the body is
// raw[i+1:end-1]). The transcoder's parser and Skip share it, so both accept
// exactly the tokens json_decode accepts.
func scanScalar(raw []byte, i int) (kind uint8, end int, flag uint8, err error) {
	switch c := raw[i]; c {
	case '"':
		end, flag, err := scanPHPString(raw, i+1)
		return tkString, end + 1, flag, err
	case 't':
		return scanLiteral(raw, i, "true", tkTrue)
	case 'f':
		return scanLiteral(raw, i, "false", tkFalse)
	case 'n':
		return scanLiteral(raw, i, "null", tkNull)
	default:
		if c != '-' && (c < '0' || c > '9') {
			return 0, i, 0, phpTokenErr(raw, i)
		}
		end, isFloat, ok := scanPHPNumber(raw, i)
		if !ok {
			return 0, end, 0, phpErrAt(errPHPJSONSyntax, end)
		}
		if !isFloat && phpIntLiteralFits(raw[i:end]) {
			return tkInt, end, 0, nil
		}
		return tkFloat, end, 0, nil
	}
}

// scanLiteral checks that the literal lit (true, false or null) starts at raw[i].
func scanLiteral(raw []byte, i int, lit string, kind uint8) (uint8, int, uint8, error) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return 0, i, 0, phpErrAt(errPHPJSONSyntax, i)
	}
	return kind, i + len(lit), 0, nil
}

// scanKey scans an object key and the ':' after it at raw[i] (after
// whitespace). It returns the key's body raw[a:b] (without quotes), its string
// flags and the offset of the value (after whitespace).
func scanKey(raw []byte, i int) (a, b int, flag uint8, next int, err error) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, 0, 0, i, phpTokenErr(raw, i)
	}
	end, flag, err := scanPHPString(raw, i+1)
	if err != nil {
		return 0, 0, 0, i, err
	}
	next = SkipSpace(raw, end+1)
	if next >= len(raw) || raw[next] != ':' {
		return 0, 0, 0, next, phpTokenErr(raw, next)
	}
	return i + 1, end, flag, SkipSpace(raw, next+1), nil
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
