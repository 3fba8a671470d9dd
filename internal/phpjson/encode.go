package phpjson

import (
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
)

// Object is a PHP associative array with its insertion order kept: an
// ordered list of key/value pairs for Encode, for values whose key
// order matters on the wire (a Go map has none, so maps are written with
// sorted keys). PHP's array rules apply when it is encoded: keys that are
// canonical decimal integers in int64 range ("0", "17", "-3"; not "01", "-0",
// "+1" or " 1") are integer keys; a later duplicate key replaces the earlier
// value but keeps its position; the array is written as a JSON list when its
// keys are exactly 0, 1, ..., n-1 in that order, as [] when empty, and
// otherwise as a JSON object (integer keys written as strings). Values may be
// anything Encode accepts.
type Object []Field

// Field is one key/value pair of a Object.
type Field struct {
	Key   string
	Value any
}

// MarshalJSON writes o as PHP's json_encode would, so that a Object nested
// in a struct keeps its order and PHP rules when the struct is marshalled.
func (o Object) MarshalJSON() ([]byte, error) {
	return Encode(nil, o)
}

// Encode appends v as PHP's json_encode would write the PHP value that
// v stands for; it is what goresque uses for everything PHP reads back.
//
//   - nil → null; bool; string (AppendString: invalid UTF-8 fails, as in PHP);
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
//   - Object: an ordered PHP array (see Object);
//   - json.RawMessage: Transcode (an empty one is null);
//   - pointers and interfaces: what they point to (nil → null);
//   - anything else (structs, types with MarshalJSON or MarshalText, maps with
//     other keys): json.Marshal, then Transcode, so struct field order
//     is kept. Note that json.Marshal replaces invalid UTF-8 with U+FFFD,
//     base64-encodes []byte fields and sorts map keys as strings there.
//
// Nesting deeper than json_encode's default depth of 512 fails with
// ErrDepth (this also stops self-referencing slices and maps). On
// error dst is returned unchanged.
func Encode(dst []byte, v any) ([]byte, error) {
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
		return AppendString(dst, x)
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
			return dst, ErrDepth
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
	case Object:
		return encodePHPObject(dst, x, depth)
	case *Object:
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

// encodePHPMarshal writes v by way of json.Marshal and Transcode.
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
		return dst, ErrDepth
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
			if dst, err = AppendString(dst, k.s); err != nil {
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
func encodePHPObject(dst []byte, o Object, depth int) ([]byte, error) {
	if depth+1 > phpJSONEncodeMaxNesting {
		return dst, ErrDepth
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
			if dst, err = AppendString(dst, o[s].Key); err != nil {
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
		return AppendString(dst, rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return dst, errPHPJSONBytes
		}
		fallthrough
	case reflect.Array:
		if depth+1 > phpJSONEncodeMaxNesting {
			return dst, ErrDepth
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
		return dst, ErrDepth
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
