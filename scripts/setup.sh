#!/usr/bin/env bash
# Installs what goresque's tests and demo need, when missing: from Debian's packages
# redis-server, php-cli, openssl, chromium, Ruby with the gems Ruby resque 2.7.0 and
# resque-web need (the interop tests run ../shared/thirdparty/ruby-resque), node and npm;
# from npm node-resque 9.7.1 into $NODE_RESQUE_DIR (default: <user cache>/goresque/node-resque,
# where internal/interop looks). Idempotent; prints the versions it finds.
# GORESQUE_SETUP=demo (scripts/demo.sh) installs only what the demo runs: redis-server and php-cli.
set -euo pipefail
full=true
[ "${GORESQUE_SETUP:-}" = demo ] && full=false

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if $full; then
# redis-sentinel: the Sentinel/failover tests start three of them.
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
fi
command -v php >/dev/null 2>&1 || need+=(php-cli)
if $full; then
# openssl makes the certificates of the TLS tests.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# chromium runs the dashboard's browser tests (internal/web), headless.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Ruby resque 2.7.0 (lib/ only) and resque-web, for the Ruby interop tests.
command -v ruby >/dev/null 2>&1 || need+=(ruby)
for pkg in ruby-redis ruby-redis-namespace ruby-mono-logger ruby-multi-json ruby-sinatra ruby-rack ruby-webrick; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# node-resque, for the node interop tests.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (Debian packages)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup: need root (or sudo) to install ${need[*]}" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null || true
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# node-resque 9.7.1 from the npm registry, into the cache folder the tests read.
export NODE_RESQUE_DIR="${NODE_RESQUE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/goresque/node-resque}"
if $full && ! grep -qs '"version": "9.7.1"' "$NODE_RESQUE_DIR/node_modules/node-resque/package.json"; then
  echo "setup: installing node-resque@9.7.1 into $NODE_RESQUE_DIR (npm)"
  mkdir -p "$NODE_RESQUE_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NODE_RESQUE_DIR" node-resque@9.7.1 >/dev/null
fi

# A package install may start a system redis-server on 6379; tests never use it.
if [ -x /usr/local/go/bin/go ] && ! command -v go >/dev/null 2>&1; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "setup: go is not installed (expected at /usr/local/go)" >&2; exit 1; }
if $full; then
  echo "setup: $(go version | cut -d' ' -f3-4), $(redis-server --version | cut -d' ' -f3), PHP $(php -r 'echo PHP_VERSION;'), Ruby $(ruby -e 'print RUBY_VERSION'), node $(node --version)"
else
  echo "setup: $(go version | cut -d' ' -f3-4), $(redis-server --version | cut -d' ' -f3), PHP $(php -r 'echo PHP_VERSION;')"
fi
