#!/usr/bin/env bash
# skeleton_generate: the walking skeleton end to end. Postgres, a broker, two
# workers and assay-simllm; submit the bundled exam questions with a generate
# stage; every item must reach the export exactly once, with reasoning captured.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup skeleton_generate

start_simllm --mode r1 --latency-ms 20
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "skeleton", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 60,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 1, "temperature": 0.7}}]}
JSON
start_broker
start_worker w1 generate=16
start_worker w2 generate=16
items="$IT_ROOT/ops/sample/exam_mcq.jsonl"
n=$(grep -c . "$items")
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$items" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 200
"$BIN/assay" status "$job"
"$BIN/assay" export "$job" -o "$IT_TMP/out.jsonl" || fail "export failed"

rows=$(wc -l <"$IT_TMP/out.jsonl")
distinct=$(/usr/bin/python3 - "$IT_TMP/out.jsonl" <<'PY'
import json, sys
ids = [json.loads(l)["ext_id"] for l in open(sys.argv[1])]
print(len(set(ids)))
PY
)
with_reasoning=$(sql "SELECT count(*) FROM samples WHERE job_id = $job AND length(reasoning) > 0")
samples=$(sql "SELECT count(*) FROM samples WHERE job_id = $job")
workers=$(sql "SELECT count(DISTINCT worker) FROM tasks WHERE job_id = $job")
echo "items=$n rows=$rows distinct=$distinct samples=$samples with_reasoning=$with_reasoning workers=$workers"
[ "$rows" -eq "$n" ] || fail "exported $rows rows for $n items"
[ "$distinct" -eq "$n" ] || fail "exported $distinct distinct items for $n"
[ "$samples" -eq "$n" ] || fail "$samples samples stored for $n items"
[ "$with_reasoning" -eq "$n" ] || fail "only $with_reasoning samples carry reasoning"
[ "$workers" -eq 2 ] || fail "expected both workers to take tasks, saw $workers"
grep -q '"template_hash": *"[0-9a-f]' "$IT_TMP/out.jsonl" || fail "no template hash in the export"
echo "PASS skeleton_generate"
