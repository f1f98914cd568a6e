#!/usr/bin/env bash
# simllm_zero_latency: assay-simllm at its default latency 0 answers a burst of
# hundreds of requests at once without a lost wake-up. Thousands of requests at
# concurrency 256 go through `assay run generate` (r1 and o3 modes) and through a
# real broker and worker; each run has a bound far above what it needs (a few
# seconds), so a stall (requests unread on open sockets while both processes sleep,
# up to the server's 300 s connection timeout) fails the test instead of hanging it.
# One more run uses two server loops (--threads 2).
# timeout: 600
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup simllm_zero_latency

ITEMS=1000 # x n=8 samples = 8,000 requests per `assay run`
BOUND=60   # seconds per run; a fixed run takes a few
/usr/bin/python3 - "$ITEMS" >"$IT_TMP/items.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": "zl_%04d" % i,
                      "question": "第%d题：患者发热、咳嗽%d天，最可能的诊断是" % (i, 1 + i % 9),
                      "options": {"A": "急性上呼吸道感染", "B": "社区获得性肺炎",
                                  "C": "肺结核", "D": "支气管哮喘", "E": "肺癌"},
                      "answer": "ABCDE"[i % 5]}, ensure_ascii=False))
PY

# where the requests sit when a run stalls (stall.log, printed by fail): unread on
# the server's sockets (Recv-Q > 0) or answered and not taken by the client
sockets() {
  {
    echo "server sockets with unread requests: $(ss -tnH "( sport = :$SIMLLM_PORT )" |
      awk '$2 > 0' | wc -l) of $(ss -tnH "( sport = :$SIMLLM_PORT )" | wc -l)"
    echo "client sockets with unread responses: $(ss -tnH "( dport = :$SIMLLM_PORT )" |
      awk '$2 > 0' | wc -l)"
    echo "simllm stats: $(curl -s "http://127.0.0.1:$SIMLLM_PORT/stats")"
  } >>"$IT_TMP/stall.log"
}

# bounded SECONDS CMD...: run CMD; return its exit code, or 124 (after printing
# where the requests sit) when it is still running after SECONDS
bounded() {
  local secs=$1 pid i
  shift
  "$@" <&0 &  # explicit: a background job would read /dev/null
  pid=$!
  for i in $(seq 1 $((secs * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    sockets
    kill "$pid"
    wait "$pid" || true
    return 124
  fi
  wait "$pid"
}

# run_offline MODE ROUND: 1,000 items x 8 samples through `assay run` at concurrency 256
run_offline() {
  local mode=$1 round=$2 t0 rc=0
  export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-$mode \
         ASSAY_ENDPOINT_SIM_STYLE=$mode ASSAY_ENDPOINT_SIM_MAX_CONCURRENCY=256
  t0=$(date +%s.%N)
  bounded "$BOUND" "$BIN/assay" run generate --param endpoint=sim --param template=answer_mcq \
    --param n=8 --concurrency 256 <"$IT_TMP/items.jsonl" >"$IT_TMP/out.jsonl" \
    2>"$IT_TMP/run.log" || rc=$?
  if [ "$rc" = 124 ]; then
    fail "assay run generate ($mode, round $round) stalled: $(wc -l <"$IT_TMP/out.jsonl") of $ITEMS lines after ${BOUND}s"
  fi
  [ "$rc" = 0 ] || fail "assay run generate ($mode, round $round) exited $rc"
  /usr/bin/python3 - "$IT_TMP/out.jsonl" "$ITEMS" "$mode" <<'PY' || fail "wrong output ($mode)"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == int(sys.argv[2]), len(rows)
for r in rows:
    assert "error" not in r, r.get("error")
    assert len(r["samples"]) == 8 and all(s["answer"] for s in r["samples"]), r["id"]
    if sys.argv[3] == "r1":
        assert all(s["reasoning"] for s in r["samples"]), r["id"]
PY
  it_log "$mode round $round: $((ITEMS * 8)) requests in $(echo "$(date +%s.%N) - $t0" | bc) s"
}

for mode in r1 o3; do
  start_simllm --mode "$mode" --quiet
  for round in 1 2 3; do run_offline "$mode" "$round"; done
done
# several loops sharing the listening socket (what compose.yaml runs)
start_simllm --mode r1 --quiet --threads 2
run_offline r1 "threads=2"

# the same burst through a broker and a worker with 256 generate slots
start_simllm --mode r1 --quiet
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1 ASSAY_ENDPOINT_SIM_MAX_CONCURRENCY=256
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "zero-latency", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 600,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 8}}]}
JSON
start_broker
start_worker w1 generate=256
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
t0=$(date +%s.%N)
# every task stored done (the job's own state may say done a moment earlier)
done_tasks() { sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'"; }
for i in $(seq 1 $((BOUND * 5))); do
  [ "$(done_tasks)" = "$ITEMS" ] && break
  sleep 0.2
done
if [ "$(done_tasks)" != "$ITEMS" ]; then
  sockets
  "$BIN/assay" status "$job" >&2 || true
  fail "job $job stalled: $(done_tasks) of $ITEMS tasks done after ${BOUND}s"
fi
it_log "worker: $((ITEMS * 8)) requests in $(echo "$(date +%s.%N) - $t0" | bc) s"
echo "PASS simllm_zero_latency"
