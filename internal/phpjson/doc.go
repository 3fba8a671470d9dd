// Package phpjson reads and writes JSON exactly as PHP 8.2's json_decode and
// json_encode do.
//
// php-resque writes everything it stores in Redis with PHP's json_encode
// (no flags, serialize_precision=-1), and a worker writes back payloads after
// json_decode($payload, true) followed by json_encode. Whatever goresque writes
// where PHP reads it (or where PHP tools match it byte for byte, such as
// LREM in Resque::dequeue and ResqueScheduler::removeDelayed) must therefore be
// exactly what PHP 8.2 would have written. encoding/json differs in many ways
// (no "\/" escape, raw UTF-8, HTML escapes, float formatting, {} for empty
// maps, no list/map distinction by keys), so this package reimplements the PHP
// rules. Every rule here was checked against PHP 8.2's CLI (see
// differential_test.go, which runs a differential test against the php binary).
//
// Writing: Encode (encode.go) writes a Go value as json_encode writes the PHP value it
// stands for (Object keeps a PHP array's key order); AppendString and the float rules
// (string.go, number.go) are its pieces; DateISO8601, DateStrftime and AppendMicrotime
// (date.go) are PHP's date formats. Reading: Transcode (transcode.go) rewrites any JSON as
// json_encode(json_decode($raw, true)) does; Skip and Key (validate.go) check a value as
// json_decode does without decoding it, for callers that keep the raw bytes, and Unquote
// reads a string they accepted. Both read through one token scanner (scan.go), so they
// accept exactly the same documents.
package phpjson
