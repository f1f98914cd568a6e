#!/bin/sh
# run_fuzz.sh [SECONDS] [TARGET ...]: build the libFuzzer targets with clang into
# build-fuzz/ (or $FUZZ_BUILD) and fuzz each for SECONDS (default 60), one after
# the other ($FUZZ_JOBS at once, default 1). Targets (default: all):
#   proto        the wire protocol decoder (common/proto.c)
#   judge_reply  the judge reply parser alone (worker/domain/judge.c)
#   noop generate leak_removal normalize verify hack_check tag cot_actions judge
#                one task kind each: the real handler through the real executor on
#                mutated inputs, params and model replies (fuzz_handler.c)
# New inputs go to BUILD/corpus/TARGET (seeded from tests/fuzz/corpus/TARGET,
# which stays as it is); crash reproducers to BUILD/artifacts/TARGET/; the log of
# each run to BUILD/fuzz_TARGET.log. For each target it prints the executions and
# libFuzzer's final coverage (cov: edges, ft: features).
# Exit status: 0, 1 when a target crashed, 2 when the build failed, 77 when clang
# with libFuzzer is not available (ops/deps.sh --test installs clang).
set -eu
secs=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-1}
handlers="noop generate leak_removal normalize verify hack_check tag cot_actions judge"
targets=${*:-proto judge_reply $handlers}

# clang with the libFuzzer runtime, or skip
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! command -v clang >/dev/null 2>&1 ||
   ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
    echo "run_fuzz: skipped: clang with libFuzzer is not available (ops/deps.sh --test installs clang)"
    exit 77
fi

mkdir -p "$build"
build_targets=""
for t in $targets; do build_targets="$build_targets --target fuzz_$t"; done
# shellcheck disable=SC2086
if ! { cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DASSAY_FUZZ=ON \
             -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build "$build" $build_targets -j2; } >"$build/build.log" 2>&1; then
    tail -n 40 "$build/build.log" >&2
    echo "run_fuzz: could not build the fuzz targets with clang (see $build/build.log)" >&2
    exit 2
fi

run_one() {
    t=$1
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
    log=$build/fuzz_$t.log
    extra=""
    [ "$t" = proto ] && extra="-dict=$root/tests/fuzz/proto.dict"
    [ "$t" = proto ] || [ "$t" = judge_reply ] || extra="-dict=$root/tests/fuzz/handler.dict"
    st=0
    # shellcheck disable=SC2086
    "$build/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 $extra -artifact_prefix="$build/artifacts/$t/" \
        "$build/corpus/$t" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1 || st=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 | sed 's/^#[0-9]*[[:space:]]*//')
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    printf '%-13s %s s  execs=%s  cov=%s  ft=%s  corpus=%s' "$t" "$secs" "${runs:-?}" "${cov:-?}" \
        "${ft:-?}" "$(ls "$build/corpus/$t" | wc -l)"
    if [ "$st" -ne 0 ]; then
        printf '  CRASHED (status %s; see %s)\n' "$st" "$log"
        grep -E 'ERROR|SUMMARY|Test unit written|fuzz_handler' "$log" | head -n 8 >&2 || true
        return 1
    fi
    printf '\n'
}

status=0
running=0
pids=""
for t in $targets; do
    if [ "$jobs" -le 1 ]; then
        run_one "$t" || status=1
        continue
    fi
    run_one "$t" &
    pids="$pids $!"
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        for p in $pids; do wait "$p" || status=1; done
        pids=""
        running=0
    fi
done
for p in $pids; do wait "$p" || status=1; done
exit $status
