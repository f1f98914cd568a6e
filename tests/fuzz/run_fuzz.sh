#!/bin/sh
# run_fuzz.sh [SECONDS]: build the protocol fuzz target with clang into build-fuzz/
# and fuzz assay_proto_decode for SECONDS (default 60), one process. New inputs go to
# build-fuzz/corpus/proto (seeded from tests/fuzz/corpus/proto, which stays as is);
# crash reproducers go to build-fuzz/artifacts/. Exit status 1 when a crash was found.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz

mkdir -p "$build/corpus/proto" "$build/artifacts"
log=$build/fuzz_proto.log
if ! { cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DASSAY_FUZZ=ON &&
       cmake --build "$build" --target fuzz_proto -j2; } >"$build/build.log" 2>&1; then
    cat "$build/build.log" >&2
    echo "could not build fuzz_proto with clang" >&2
    exit 2
fi

status=0
"$build/fuzz/fuzz_proto" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
    -dict="$root/tests/fuzz/proto.dict" -artifact_prefix="$build/artifacts/" \
    "$build/corpus/proto" "$root/tests/fuzz/corpus/proto" >"$log" 2>&1 || status=$?

grep -E '^Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb' "$log" || true
echo "coverage (last status line): $(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)"
echo "corpus: $(ls "$build/corpus/proto" | wc -l) inputs in $build/corpus/proto"
if [ "$status" -ne 0 ]; then
    echo "fuzz_proto FAILED (status $status); see $log" >&2
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" >&2 || true
    exit 1
fi
