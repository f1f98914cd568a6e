#!/usr/bin/env bash
# ratelimit: the broker enforces an endpoint's requests-per-minute across all
# workers, and slows the endpoint down for everybody after a 429.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup ratelimit

start_simllm --mode r1
calm=$SIMLLM_URL
start_simllm --mode r1 --fault-429 0.3 --retry-after 1
angry=$SIMLLM_URL
cat >"$IT_TMP/assay.conf" <<CONF
[endpoint.sim]
base_url = $calm
model = sim-r1
style = r1
rpm = 600

[endpoint.busy]
base_url = $angry
model = sim-r1
style = r1
rpm = 6000
CONF
export ASSAY_CONFIG="$IT_TMP/assay.conf"
head -n 40 "$IT_ROOT/ops/sample/exam_mcq.jsonl" >"$IT_TMP/items.jsonl"
for ep in sim busy; do
  cat >"$IT_TMP/spec-$ep.json" <<JSON
{"name": "limited-$ep", "stages": [{"name": "answer", "kind": "generate",
  "max_attempts": 20, "params": {"endpoint": "$ep", "template": "answer_mcq", "n": 1}}]}
JSON
done
start_broker
start_worker w1 generate=64
start_worker w2 generate=64
sleep 1

# 1) 40 one-request tasks at 600 rpm (10/s, one second of burst) over two workers
#    with plenty of slots: the broker must spread them over at least ~3 s.
t0=$(date +%s.%N)
job=$("$BIN/assay" submit --spec "$IT_TMP/spec-sim.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job" 120
t1=$(date +%s.%N)
secs=$(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}')
spread=$(sql "SELECT extract(epoch FROM max(finished_at) - min(finished_at))::numeric(8,2) FROM tasks WHERE job_id = $job")
echo "40 tasks at 600 rpm took ${secs}s; first to last completion ${spread}s"
awk -v s="$spread" 'BEGIN {exit !(s >= 2.5)}' || fail "completions spread over ${spread}s only: the limit was not enforced"

# 2) an endpoint answering 30% of requests with 429: the broker logs the push-back
#    and lowers the rate; every task still ends done (retried), none dead
job=$("$BIN/assay" submit --spec "$IT_TMP/spec-busy.json" --input "$IT_TMP/items.jsonl" --dataset again --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job" 200
grep -q "endpoint busy pushed back" "$IT_TMP/broker.log" || fail "no push-back logged by the broker"
notdone=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state <> 'done'")
retried=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt > 1")
echo "429 run: retried=$retried not_done=$notdone"
[ "$notdone" -eq 0 ] || fail "$notdone tasks did not finish"
[ "$retried" -gt 0 ] || fail "no task was retried although the endpoint sent 429s"
echo "PASS ratelimit"
