#!/bin/sh
# verify_bench.sh [DATA_DIR]: rule-verifier throughput and terminology snapshot cost.
#
#   1. builds a snapshot of the real terminology in DATA_DIR (default
#      ../shared/data) and opens it in a fresh process: load time, peak RSS, and
#      verifications per second of CPU on one core (CHIP-CDN diagnosis pairs) on
#      the exact path (link=exact);
#   2. the same pairs on the handler's default path (link=full: the normalisers
#      as evidence when a gold atom is not matched exactly; the snapshot carries
#      DATA_DIR's chip_cdn_train.jsonl as known mentions, as a user's would);
#   3. the exact path on a synthetic terminology of 1,000,000 concepts.
#
# Targets: >= 150,000 verifications/s on the exact path, >= 20,000/s on the full
# path, real load <= 1 s, 1M load <= 5 s in <= 2 GB.
# Needs a build (cmake --build build); BUILD_DIR overrides the build directory.
# The last line is: verify_per_s=N verify_full_per_s=F load_s=T rss_mb=M load_1m_s=T2
# rss_1m_mb=M2
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${1:-$root/../shared/data}
build=${BUILD_DIR:-$root/build}
bench=$build/bench/verify_bench

if [ ! -x "$bench" ]; then
    echo "verify_bench.sh: \"$bench\" not found: build first (cmake --build build)" >&2
    exit 2
fi
if [ ! -f "$data/icd10.tsv" ]; then
    echo "verify_bench.sh: no terminology in \"$data\" (expected icd10.tsv there)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verify_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# one core: pin when taskset exists
pin=""
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi

get() { sed -n "s/^.*\\b$1=\\([^ ]*\\).*$/\\1/p" "$2" | tail -1; }

echo "== real terminology ($data)"
"$bench" snapshot "$data" "$tmp/real.snap" | tee "$tmp/build.txt"
$pin "$bench" run "$tmp/real.snap" "$data" | tee "$tmp/real.txt"

echo "== real terminology, the handler's default path (link=full: the normaliser as evidence)"
$pin "$bench" run "$tmp/real.snap" "$data" full | tee "$tmp/full.txt"

echo "== synthetic terminology, 1,000,000 concepts"
"$bench" synth 1000000 "$tmp/synth.snap" | tee "$tmp/synth_build.txt"
$pin "$bench" run "$tmp/synth.snap" | tee "$tmp/synth.txt"

echo "verify_per_s=$(get verify_per_s "$tmp/real.txt") verify_full_per_s=$(get verify_per_s "$tmp/full.txt")" \
     "load_s=$(get load_s "$tmp/real.txt")" \
     "rss_mb=$(get rss_mb "$tmp/real.txt") load_1m_s=$(get load_s "$tmp/synth.txt")" \
     "rss_1m_mb=$(get rss_mb "$tmp/synth.txt")"
