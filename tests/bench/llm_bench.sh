#!/usr/bin/env bash
# llm_bench.sh: the LLM client under load. assay-simllm answers every request after
# LATENCY_MS; one assay client process (llm_drive: the http/llm/endpoint modules the
# generate task runs on, one event loop) keeps INFLIGHT requests in flight until
# REQUESTS completed. Then, in the same run and against the same server, a Python
# asyncio client (Debian's python3-aiohttp) does the same work. Compared: request
# rate, CPU time (user+sys) per request of the client process, and its peak RSS.
#
# usage: tests/bench/llm_bench.sh [BUILD_DIR]   (env: INFLIGHT, REQUESTS, LATENCY_MS)
# last line: assay_req_per_s=N efficiency=E worker_rss_mb=M worker_cpu_ms_per_req=C
#            aiohttp_req_per_s=K aiohttp_cpu_ms_per_req=D cpu_ratio=R
#   efficiency = measured rate / (INFLIGHT / latency), cpu_ratio = D / C
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
INFLIGHT=${INFLIGHT:-1000}
REQUESTS=${REQUESTS:-20000}
LATENCY_MS=${LATENCY_MS:-1000}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/assay-llm-bench.XXXXXX)
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

"$PY" -c 'import aiohttp' 2>/dev/null || {
    echo "llm_bench: python3-aiohttp is missing (apt-get install python3-aiohttp)" >&2
    exit 1
}
"$BUILD/bin/assay-simllm" --listen 127.0.0.1:0 --port-file "$TMP/port" --quiet \
    --latency-ms "$LATENCY_MS" --max-connections $((INFLIGHT * 2 + 64)) &
SIM=$!
trap 'kill $SIM 2>/dev/null; wait $SIM 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$TMP/port")/v1"
echo "llm_bench: $REQUESTS requests, $INFLIGHT in flight, ${LATENCY_MS} ms latency, server $URL"

# run NAME COMMAND...: wall seconds, user+sys CPU seconds and peak RSS (KiB) of the
# client process, from GNU time
run() {
    local name=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/$name.time" "$@" > "$TMP/$name.out"
    cat "$TMP/$name.out"
}
run assay "$BUILD/bench/llm_drive" --url "$URL" --concurrency "$INFLIGHT" --requests "$REQUESTS"
run aiohttp "$PY" "$HERE/llm_aiohttp.py" "$URL" "$INFLIGHT" "$REQUESTS"
# the whole generate task path, as a worker runs it: `assay run generate` (the
# executor, prompt rendering, request building, response parsing, sample JSON) with
# the same concurrency, one request per item
"$PY" -c "
import json
for i in range($REQUESTS):
    print(json.dumps({'id': 'b%d' % i, 'question': '问题 %d：下列哪项正确' % i,
                      'options': {'A': '甲', 'B': '乙', 'C': '丙', 'D': '丁'}}, ensure_ascii=False))
" > "$TMP/items.jsonl"
task_start=$(date +%s.%N)
ASSAY_CONFIG=/dev/null ASSAY_ENDPOINT_SIM_BASE_URL="$URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
ASSAY_ENDPOINT_SIM_STYLE=r1 ASSAY_ENDPOINT_SIM_MAX_CONCURRENCY="$INFLIGHT" \
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/task.time" \
  "$BUILD/bin/assay" run generate --param endpoint=sim --param template=answer_mcq --param n=1 \
  --concurrency "$INFLIGHT" < "$TMP/items.jsonl" > "$TMP/task.jsonl"
task_end=$(date +%s.%N)
task_ok=$(grep -vc '"error"' "$TMP/task.jsonl" || true)
echo "ok=$task_ok req_per_s=$(echo "$task_ok $task_start $task_end" | awk '{printf "%.1f", $1 / ($3 - $2)}')" > "$TMP/task.out"
cat "$TMP/task.out"
# for information: the same assay client on a loop that polls every socket
# (assay_http_pollfds) instead of the one epoll descriptor (assay_http_fd)
run pollfds "$BUILD/bench/llm_drive" --url "$URL" --concurrency "$INFLIGHT" --requests "$REQUESTS" --pollfds

"$PY" - "$TMP" "$INFLIGHT" "$REQUESTS" "$LATENCY_MS" <<'PYEOF'
import re, sys
tmp, inflight, requests, latency_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def load(name):
    out = open("%s/%s.out" % (tmp, name)).read()
    ok = int(re.search(r"ok=(\d+)", out).group(1))
    rate = float(re.search(r"req_per_s=([\d.]+)", out).group(1))
    wall, user, sys_, rss_kb = open("%s/%s.time" % (tmp, name)).read().split()[-4:]
    cpu_ms = (float(user) + float(sys_)) * 1000.0
    return ok, rate, cpu_ms / requests, int(rss_kb) / 1024.0
a_ok, a_rate, a_cpu, a_rss = load("assay")
p_ok, p_rate, p_cpu, p_rss = load("aiohttp")
l_ok, l_rate, l_cpu, l_rss = load("pollfds")
t_ok, t_rate, t_cpu, t_rss = load("task")
if a_ok != requests or p_ok != requests:
    sys.exit("llm_bench: not every request succeeded (assay %d, aiohttp %d of %d)" % (a_ok, p_ok, requests))
ideal = inflight / (latency_ms / 1000.0)
print("assay:   %.0f req/s, %.3f ms CPU per request, peak RSS %.1f MB" % (a_rate, a_cpu, a_rss))
print("aiohttp: %.0f req/s, %.3f ms CPU per request, peak RSS %.1f MB" % (p_rate, p_cpu, p_rss))
print("assay on a pollfd-list loop: %.0f req/s, %.3f ms CPU per request, peak RSS %.1f MB"
      % (l_rate, l_cpu, l_rss))
print("assay run generate (the task path a worker runs, %d ok): %.0f req/s, %.3f ms CPU per request, "
      "peak RSS %.1f MB, cpu_ratio vs aiohttp %.1f" % (t_ok, t_rate, t_cpu, t_rss, p_cpu / t_cpu))
print("assay_req_per_s=%.0f efficiency=%.2f worker_rss_mb=%.1f worker_cpu_ms_per_req=%.3f "
      "aiohttp_req_per_s=%.0f aiohttp_cpu_ms_per_req=%.3f cpu_ratio=%.1f"
      % (a_rate, a_rate / ideal, a_rss, a_cpu, p_rate, p_cpu, p_cpu / a_cpu))
PYEOF
