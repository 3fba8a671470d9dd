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
// phpjson_test.go, which runs a differential test against the php binary).
package phpjson
