package resque

import "github.com/goresque/goresque/internal/phpjson"

// PHP-compatible JSON lives in internal/phpjson: everything goresque writes where PHP reads
// it must be byte for byte what PHP's json_encode writes. These aliases keep the types that
// users pass to Client.Enqueue in this package (as River's error.go aliases lower-package
// types), so callers never import an internal package.

// PHPObject is a PHP associative array with its insertion order kept: an ordered list of
// key/value pairs, for values whose key order matters on the wire (a Go map has none, so
// maps are written with sorted keys). PHP's array rules apply when it is encoded: keys that
// are canonical decimal integers in int64 range ("0", "17", "-3"; not "01", "-0", "+1" or
// " 1") are integer keys; a later duplicate key replaces the earlier value but keeps its
// position; the array is written as a JSON list when its keys are exactly 0, 1, ..., n-1 in
// that order, as [] when empty, and otherwise as a JSON object (integer keys written as
// strings).
type PHPObject = phpjson.Object

// PHPField is one key/value pair of a PHPObject.
type PHPField = phpjson.Field
