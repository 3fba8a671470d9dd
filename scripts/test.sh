#!/usr/bin/env bash
# The test command: installs redis-server and php-cli when missing, then runs gofmt, go vet
# and every test with the race detector against real redis-server and php processes the
# tests start themselves. CI=true turns a missing dependency into a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export CI="${CI:-true}"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
echo "== fuzz (brief): PHP-style JSON transcoding and payload decoding"
go test ./internal/phpjson -run '^$' -fuzz '^FuzzTranscodePHPJSON$' -fuzztime 15s
go test ./resque -run '^$' -fuzz '^FuzzDecodePayload$' -fuzztime 15s
echo "== all tests passed"
