#!/usr/bin/env bash
# ops/deps.sh: make sure the Debian packages assay needs are installed.
# As root it installs what is missing (apt-get update first); otherwise it prints
# the exact apt-get line to run and fails. Used by ops/demo.sh and ops/test.sh.
#   ops/deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

pkgs=(build-essential cmake pkg-config git ca-certificates openssl
      libzmq3-dev libmsgpack-dev libpq-dev libcurl4-openssl-dev libssl-dev
      libjansson-dev libmicrohttpd-dev libcmocka-dev postgresql postgresql-contrib)
if [ "${1:-}" = "--test" ]; then
  # clang and libclang-rt-dev (libFuzzer and the sanitizer runtimes) build the
  # fuzz targets: tests/fuzz/run_fuzz.sh and the ctest test fuzz.smoke
  pkgs+=(libcmocka-dev clang libclang-rt-dev python3 python3-yaml python3-zmq python3-msgpack systemd procps iproute2 curl bc jq chromium)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: missing Debian packages; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
