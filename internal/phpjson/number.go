package phpjson

import (
	"bytes"
	"cmp"
	"math"
	"strconv"
)

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
// also what the json.Marshal fallback of Encode does for float32
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
