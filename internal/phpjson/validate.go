package phpjson

// Validation without decoding, for callers that keep the raw bytes.
//
// goresque keeps a payload's bytes as they were pushed and only looks at its top-level
// fields (Resque_Job reads $payload['class'] and ['args'] after json_decode($payload, true)),
// so payload decoding needs to know where a value ends and whether PHP could decode it,
// not a decoded value. Skip and Key answer that with the token scanners the transcoder
// uses (scanScalar, scanKey), so a payload goresque runs is exactly a payload PHP's
// json_decode accepts.

// Skip validates the JSON value that starts at raw[i] as PHP's json_decode
// does and returns the offset just after it (trailing whitespace is not
// consumed). It rejects what json_decode rejects (syntax errors, raw control
// characters in strings, lone UTF-16 surrogate escapes, invalid UTF-8 inside
// strings) and arrays/objects nested more than maxNesting deep (json_decode's
// default allows DecodeMaxNesting). Errors carry the offset, like Transcode's.
// It allocates nothing for values nested up to 64 levels and recurses never,
// so hostile nesting cannot exhaust the stack.
func Skip(raw []byte, i, maxNesting int) (int, error) {
	var buf [64]bool
	open := buf[:0] // per open level: true for an object
	n := len(raw)
	for {
		// A value starts at i.
		if i >= n {
			return i, phpErrAt(errPHPJSONSyntax, i)
		}
		if c := raw[i]; c == '[' || c == '{' {
			if len(open) >= maxNesting {
				return i, phpErrAt(ErrDepth, i)
			}
			open = append(open, c == '{')
			i = SkipSpace(raw, i+1)
			if i < n && raw[i] == c+2 { // ']' or '}'
				open = open[:len(open)-1]
				i++
			} else {
				if c == '{' {
					var err error
					if _, _, _, i, err = scanKey(raw, i); err != nil {
						return i, err
					}
				}
				continue
			}
		} else {
			_, end, _, err := scanScalar(raw, i)
			if err != nil {
				return end, err
			}
			i = end
		}
		// A value ended at i: close containers until one continues.
		for {
			if len(open) == 0 {
				return i, nil
			}
			i = SkipSpace(raw, i)
			if i >= n {
				return i, phpErrAt(errPHPJSONSyntax, i)
			}
			obj := open[len(open)-1]
			if c := raw[i]; c == ',' {
				i = SkipSpace(raw, i+1)
				if obj {
					var err error
					if _, _, _, i, err = scanKey(raw, i); err != nil {
						return i, err
					}
				}
				break
			} else if c == ']' && obj || c == '}' && !obj {
				return i, phpErrAt(errPHPJSONSyntax, i)
			} else if c != ']' && c != '}' {
				return i, phpTokenErr(raw, i)
			}
			open = open[:len(open)-1]
			i++
		}
	}
}

// Key reads the object key at raw[i] (after whitespace) and the ':' after it,
// validating the key as Skip does. It returns the key's string token (quotes
// included) and the offset of the value (after whitespace).
func Key(raw []byte, i int) (key []byte, next int, err error) {
	a, b, _, next, err := scanKey(raw, i)
	if err != nil {
		return nil, next, err
	}
	return raw[a-1 : b+1], next, nil
}

// Unquote returns the string that a string token accepted by Skip or Key
// (quotes included) stands for.
func Unquote(tok []byte) string {
	body := tok[1 : len(tok)-1]
	for _, c := range body {
		if c == '\\' {
			return string(appendPHPUnescaped(nil, body))
		}
	}
	return string(body)
}
