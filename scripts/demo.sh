#!/usr/bin/env bash
# goresque end to end on a private Redis: PHP pushes jobs in php-resque's format, goresque
# works them (a Go handler, and PHP classes through the PHP bridge), and the results are
# read back the way PHP tools read them.
set -euo pipefail
cd "$(dirname "$0")/.."
GORESQUE_SETUP=demo source scripts/setup.sh >/dev/null

echo "== building goresque"
go build -o bin/goresque .
GR="$PWD/bin/goresque"

tmp=$(mktemp -d /tmp/goresque-demo.XXXXXX)
cleanup() {
  [ -f "$tmp/worker.pid" ] && kill -TERM "$(cat "$tmp/worker.pid")" 2>/dev/null || true
  [ -f "$tmp/redis.pid" ] && kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== starting a private redis-server on $tmp/redis.sock"
redis-server --port 0 --unixsocket "$tmp/redis.sock" --save "" --appendonly no \
  --daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
for _ in $(seq 50); do [ -S "$tmp/redis.sock" ] && break; sleep 0.1; done
export REDIS_BACKEND="$tmp/redis.sock"

echo "== PHP pushes jobs exactly as Resque::enqueue does (testdata/phpapp/push.php)"
push() { php testdata/phpapp/push.php "$REDIS_BACKEND" "$@"; }
hello=$(push default Goresque_Example_Hello '{"name":"PHP"}' --track --dialect=136)   # a Go handler
nameless=$(push default Goresque_Example_Hello '{}' --track --dialect=136)           # a Go handler that fails
legacy=$(push default Php_Succeed '{"name":"legacy"}' --track --dialect=136)       # a PHP class, not ported
throws=$(push default Php_Throw '{"message":"card declined"}' --track --dialect=136) # a PHP class that throws
echo "   pushed $hello $nameless $legacy $throws"
echo "== goresque enqueue writes the same format"
mine=$("$GR" enqueue default Goresque_Example_Hello '{"name":"Go"}' --track)
echo "   pushed $mine"
"$GR" queues

echo "== goresque work: Go handlers, and PHP classes from testdata/phpapp through the PHP bridge"
echo "   QUEUE=default INTERVAL=0.1 APP_INCLUDE=testdata/phpapp/bootstrap.php goresque work"
QUEUE=default INTERVAL=0.1 VERBOSE=1 APP_INCLUDE=testdata/phpapp/bootstrap.php GORESQUE_LOG_FORMAT=console \
  PIDFILE="$tmp/worker.pid" "$GR" work &
for _ in $(seq 100); do
  [ "$("$GR" stats --json | grep -o '"processed": [0-9]*' | grep -o '[0-9]*$')" = 5 ] && break
  sleep 0.1
done
"$GR" workers
kill -QUIT "$(cat "$tmp/worker.pid")"
wait
rm -f "$tmp/worker.pid"

echo "== results, as PHP's Resque_Job_Status and resque-web read them"
for id in "$hello" "$nameless" "$legacy" "$throws" "$mine"; do
  echo "$id:"; "$GR" status "$id" | sed 's/^/    /'
done
"$GR" stats
echo "== the failed list (resque:failed)"
redis-cli -s "$REDIS_BACKEND" lrange resque:failed 0 -1 | cut -c1-300
