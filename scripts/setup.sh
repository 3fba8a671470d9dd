#!/usr/bin/env bash
# Installs what goresque's tests and demo need, from Debian's packages, when missing:
# redis-server, php-cli, openssl and chromium. Idempotent; prints the versions it finds.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v php >/dev/null 2>&1 || need+=(php-cli)
# openssl makes the certificates of the TLS tests.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# chromium runs the dashboard's browser tests (internal/web), headless.
command -v chromium >/dev/null 2>&1 || need+=(chromium)

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

# A package install may start a system redis-server on 6379; tests never use it.
if [ -x /usr/local/go/bin/go ] && ! command -v go >/dev/null 2>&1; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "setup: go is not installed (expected at /usr/local/go)" >&2; exit 1; }
echo "setup: $(go version | cut -d' ' -f3-4), $(redis-server --version | cut -d' ' -f3), PHP $(php -r 'echo PHP_VERSION;')"
