// Package phpjsontest holds reference checks the fuzz tests of internal/phpjson and resque
// share: plain, obviously-correct code to compare the fast scanners against.
package phpjsontest

import "strconv"

// HasLoneSurrogate reports whether a valid JSON document has a \uD800-\uDFFF escape that is
// not part of a high+low pair (which PHP's json_decode rejects with JSON_ERROR_UTF16).
func HasLoneSurrogate(data []byte) bool {
	s := string(data)
	for i := 0; i+6 <= len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++ // skip the escaped character
			continue
		}
		v, _ := strconv.ParseUint(s[i+2:i+6], 16, 16)
		switch {
		case v >= 0xd800 && v < 0xdc00:
			if i+12 > len(s) || s[i+6:i+8] != `\u` {
				return true
			}
			lo, err := strconv.ParseUint(s[i+8:i+12], 16, 16)
			if err != nil || lo < 0xdc00 || lo >= 0xe000 {
				return true
			}
			i += 11
		case v >= 0xdc00 && v < 0xe000:
			return true
		default:
			i += 5
		}
	}
	return false
}
