#!/usr/bin/env bash
# boundaries: the architecture's boundaries hold in the built binaries and in the
# include graph, so crossing one fails the suite instead of living on as a habit:
#   - workers hold no database credentials: assay-worker links neither libpq nor
#     the Postgres wrapper (common/db), and nothing under worker/ includes it;
#   - the simulated endpoint shares nothing with what it tests: assay-simllm links
#     only the base library (no worker, broker, CLI or database code);
#   - the scheduler runs no task code: nothing of worker/ is in assay-broker, and
#     nothing under broker/ includes worker/ or ops/;
#   - common/ is common: it includes nothing of broker/, worker/ or ops/, and the
#     base library carries no libpq;
#   - the worker's wings layer one way: domain/ (pure judgment) and llm/ (talking
#     to models) include nothing of tasks/ or of each other; tasks/ uses both.
# timeout: 60
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ASSAY_BUILD:-$ROOT/build}
BIN=$BUILD/bin
LIB=$BUILD/lib
errors=0
bad() { echo "BOUNDARY CROSSED: $*" >&2; errors=$((errors + 1)); }
for tool in nm readelf; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
for f in "$BIN/assay-worker" "$BIN/assay-simllm" "$BIN/assay-broker" "$LIB/libassay_domain.a" \
         "$LIB/libassay_llm.a" "$LIB/libassay_tasks.a" "$LIB/libassay_db.a" "$LIB/libassay_common.a"; do
  [ -e "$f" ] || { echo "FAIL: $f not built" >&2; exit 1; }
done

# ---- binaries: shared libraries they need, and code they carry
needs() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
defined() { nm -g --defined-only "$1" 2>/dev/null | awk 'NF==3 && $2 ~ /[TDBR]/ {print $3}' | sort -u; }
for b in assay-worker assay-simllm; do
  if needs "$BIN/$b" | grep -q '^libpq\.'; then bad "$b links libpq"; fi
done
if nm -g "$LIB/libassay_common.a" 2>/dev/null | grep -q ' U PQ'; then bad "libassay_common calls libpq"; fi

defined "$LIB/libassay_db.a" >"$BUILD/.b_db"
defined "$LIB/libassay_domain.a" >"$BUILD/.b_domain"
defined "$LIB/libassay_llm.a" >"$BUILD/.b_llm"
defined "$LIB/libassay_tasks.a" >"$BUILD/.b_tasks"
cat "$BUILD/.b_domain" "$BUILD/.b_llm" "$BUILD/.b_tasks" | sort -u >"$BUILD/.b_worker"
defined "$BIN/assay-worker" >"$BUILD/.b_worker_bin"
defined "$BIN/assay-simllm" >"$BUILD/.b_simllm_bin"
defined "$BIN/assay-broker" >"$BUILD/.b_broker_bin"
# each check: the symbols two sets share (none allowed)
shared() { comm -12 "$1" "$2" | head -5 | tr '\n' ' '; }
s=$(shared "$BUILD/.b_worker_bin" "$BUILD/.b_db"); [ -z "$s" ] || bad "assay-worker carries database code: $s"
s=$(shared "$BUILD/.b_simllm_bin" "$BUILD/.b_db"); [ -z "$s" ] || bad "assay-simllm carries database code: $s"
s=$(shared "$BUILD/.b_simllm_bin" "$BUILD/.b_worker"); [ -z "$s" ] || bad "assay-simllm carries worker code: $s"
s=$(shared "$BUILD/.b_broker_bin" "$BUILD/.b_worker"); [ -z "$s" ] || bad "assay-broker carries worker code: $s"
rm -f "$BUILD"/.b_*

# ---- sources: who includes whom (quoted project includes)
includes() { # DIR PATTERN: the files under DIR including a header that matches PATTERN
  grep -rnE --include='*.c' --include='*.h' "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"($2)" "$ROOT/$1" |
    sed "s|^$ROOT/||" || true
}
check() { # DIR PATTERN WHAT
  local hits; hits=$(includes "$1" "$2")
  [ -z "$hits" ] || bad "$3: $(echo "$hits" | head -3 | tr '\n' ' ')"
}
check common 'broker/|worker/|ops/' "common/ includes broker, worker or ops code"
check broker 'worker/|ops/' "broker/ includes worker or ops code"
check worker 'common/db/|broker/|ops/' "worker/ includes database, broker or ops code"
check ops/simllm 'worker/|broker/|common/db/|ops/cli/' "assay-simllm includes code it simulates for"
check worker/domain 'worker/tasks/|worker/llm/' "worker/domain includes the handler or model layer"
check worker/llm 'worker/tasks/|worker/domain/' "worker/llm includes the handler or domain layer"
# the base of common/ must not include the database wrapper either
hits=$(grep -lE '#[[:space:]]*include[[:space:]]+"common/db/' "$ROOT"/common/*.c "$ROOT"/common/*.h 2>/dev/null || true)
[ -z "$hits" ] || bad "common/ base includes common/db: $hits"

if [ "$errors" -gt 0 ]; then
  echo "FAIL: $errors boundary violation(s)" >&2
  exit 1
fi
echo "boundaries hold: worker and simllm without libpq or database code; broker without worker code; include graph layered"
