package phpjson

import (
	"bytes"
	"math"
	"strconv"
	"sync"
)

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

// Transcode appends to dst exactly what PHP 8.2 writes for
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
// 1.2345678901234567e+19). Strings are re-escaped (AppendString).
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
func Transcode(dst, raw []byte) ([]byte, error) {
	return transcodePHPJSONDepth(dst, raw, 0)
}

// transcodePHPJSONDepth is Transcode for a document that is nested in
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

// parse validates raw as json_decode does and fills the tape.
func (t *phpTranscoder) parse(raw []byte) error {
	n := len(raw)
	i := SkipSpace(raw, 0)
value:
	for {
		// A value starts at i.
		if i >= n {
			return phpErrAt(errPHPJSONSyntax, i)
		}
		if c := raw[i]; c == '[' || c == '{' {
			if len(t.frames) >= DecodeMaxNesting {
				return phpErrAt(ErrDepth, i)
			}
			kind := tkArray
			if c == '{' {
				kind = tkObject
			}
			t.frames = append(t.frames, phpDecFrame{tok: uint32(len(t.tape)), obj: c == '{', list: true, keys: len(t.keys)})
			t.tape = append(t.tape, phpTok{kind: kind, a: uint32(i)})
			i = SkipSpace(raw, i+1)
			if i >= n || raw[i] != c+2 { // not ']' or '}'
				if c == '{' {
					var err error
					if i, err = t.parseKey(raw, i); err != nil {
						return err
					}
				}
				continue value
			}
			t.closeFrame()
			i++
		} else {
			kind, end, flag, err := scanScalar(raw, i)
			if err != nil {
				return err
			}
			switch kind {
			case tkString:
				t.tape = append(t.tape, phpTok{kind: tkString, flag: flag, a: uint32(i + 1), b: uint32(end - 1)})
			case tkInt:
				t.tape = append(t.tape, phpTok{kind: tkInt, a: uint32(i), b: uint32(end)})
			case tkFloat:
				// ±Inf on overflow: json_decode accepts it and json_encode
				// fails, unless a duplicate key has replaced it by then.
				f, _ := strconv.ParseFloat(string(raw[i:end]), 64)
				t.tape = append(t.tape, phpTok{kind: tkFloat, a: uint32(i), c: uint32(len(t.floats))})
				t.floats = append(t.floats, f)
			default: // true, false, null
				t.tape = append(t.tape, phpTok{kind: kind})
			}
			i = end
		}
		// A value ended before i: close containers until one continues.
		for {
			i = SkipSpace(raw, i)
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
				i = SkipSpace(raw, i+1)
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
	a, end, flag, next, err := scanKey(raw, i)
	if err != nil {
		return next, err
	}
	tok := uint32(len(t.tape))
	t.tape = append(t.tape, phpTok{kind: tkKey, flag: flag, a: uint32(a), b: uint32(end)})
	rec := phpKeyRec{a: uint32(a), b: uint32(end), tok: tok}
	if flag&tfEsc != 0 {
		start := len(t.arena)
		t.arena = appendPHPUnescaped(t.arena, raw[a:end])
		rec = phpKeyRec{a: uint32(start), b: uint32(len(t.arena)), tok: tok, inArena: true}
	}
	t.addKey(raw, rec)
	return next, nil
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
				return dst, phpErrAt(ErrDepth, int(tk.a))
			}
			dst = append(dst, '[')
			st = append(st, 0)
			pc = next
			continue
		case tkObject:
			if outer+len(st) >= phpJSONEncodeMaxNesting {
				return dst, phpErrAt(ErrDepth, int(tk.a))
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
