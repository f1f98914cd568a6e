#!/usr/bin/env bash
# ops/test.sh: install what is missing, build with -Werror, start a throwaway
# PostgreSQL, run the whole suite with ctest (unit, integration and fault tests),
# and stop everything it started.
#   ops/test.sh                 the suite on a normal build (build/)
#   ops/test.sh --sanitize      the suite under AddressSanitizer + UBSan (build-asan/)
#   ops/test.sh -- ARGS         extra ctest arguments, e.g. -- -R noop -L unit
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
cmake_opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DASSAY_WERROR=ON)
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build=build-asan; cmake_opts+=(-DASSAY_ASAN=ON -DASSAY_UBSAN=ON) ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "ops/test.sh: unknown argument \"$1\"" >&2; exit 2 ;;
  esac
  shift
done

ops/deps.sh --test
cmake -S . -B "$build" "${cmake_opts[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"

. tests/lib/pg.sh
pgroot=$(mktemp -d /tmp/assay-test-pg.XXXXXX)
chmod 755 "$pgroot"
cleanup() { pg_stop "$pgroot/data"; rm -rf "$pgroot"; }
trap cleanup EXIT
pg_start "$pgroot/data"
echo "test PostgreSQL running at $PGHOST"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j2 "${ctest_args[@]}"
