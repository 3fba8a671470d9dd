package phpjson

import (
	"errors"
	"strconv"
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
	// ErrDepth mirrors JSON_ERROR_DEPTH (exported for callers that explain the limit).
	ErrDepth = errors.New("resque: JSON maximum stack depth exceeded")
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
	DecodeMaxNesting        = 511
	phpJSONEncodeMaxNesting = 512
)
