#!/usr/bin/env bash
# metrics_scrape: /metrics of the broker and of two workers, scraped after a
# generate job against assay-simllm (with injected 429s and 500s, so there are
# retries), checked against the database: tasks done, dead, retried, dispatched,
# per-kind worker totals and latency histogram counts, tokens and cost per
# endpoint, queue depth of a job nobody can run, workers and slots. /healthz and
# /readyz answer, and a standby broker is not ready.
# timeout: 180
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup metrics_scrape

start_simllm --mode r1 --latency-ms 5 --fault-429 0.05 --fault-500 0.05 --retry-after 0 --quiet
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1 ASSAY_ENDPOINT_SIM_PRICE_IN_PER_MTOK=1.5 \
       ASSAY_ENDPOINT_SIM_PRICE_OUT_PER_MTOK=6
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "metrics", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 60, "max_attempts": 8,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 1, "max_attempts": 1}}]}
JSON
echo '{"name":"nobody","stages":[{"name":"waiting","kind":"tag","params":{}}]}' >"$IT_TMP/nobody.json"
bport=$(free_port) w1port=$(free_port) w2port=$(free_port) sport=$(free_port)
ASSAY_BROKER_METRICS=127.0.0.1:$bport start_broker
ASSAY_WORKER_METRICS=127.0.0.1:$w1port start_worker w1 generate=8
ASSAY_WORKER_METRICS=127.0.0.1:$w2port start_worker w2 generate=8
items="$IT_ROOT/ops/sample/exam_mcq.jsonl"
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$items" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
idle=$("$BIN/assay" submit --spec "$IT_TMP/nobody.json" --input "$items" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job" 120
# a standby broker on the same database: alive, not ready
ASSAY_BROKER_METRICS=127.0.0.1:$sport start_broker
for i in $(seq 1 50); do curl -sf "http://127.0.0.1:$sport/healthz" >/dev/null && break; sleep 0.1; done

m() { curl -sf "http://127.0.0.1:$1/metrics"; }
val() { # port, series (exact, with labels): the value, 0 when absent
  m "$1" | awk -v k="$2" 'index($0, k " ") == 1 {print $2; f = 1} END {if (!f) print 0}'
}
sum() { m "$1" | awk -v k="$2" 'index($0, k) == 1 {s += $2} END {printf "%.12f\n", s}'; }
sleep 0.6 # one publishing interval of the broker and workers
errors=0
check() { # name, from metrics, from the database
  if awk -v a="$2" -v b="$3" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (b < 0 ? -b : b) + 1e-9)}'; then
    echo "ok   $1: metrics=$2 db=$3"
  else
    echo "FAIL $1: metrics=$2 db=$3"; errors=$((errors + 1))
  fi
}
check "completed" "$(val $bport assay_broker_completed_total)" "$(sql "SELECT count(*) FROM tasks WHERE state = 'done'")"
check "dead" "$(val $bport assay_broker_dead_total)" "$(sql "SELECT count(*) FROM tasks WHERE state = 'dead'")"
check "retries" "$(val $bport assay_broker_retries_total)" \
  "$(sql "SELECT coalesce(sum(attempt - 1), 0) FROM tasks WHERE job_id = $job")"
check "dispatched" "$(val $bport assay_broker_dispatched_total)" "$(sql "SELECT sum(attempt) FROM tasks WHERE job_id = $job")"
check "workers" "$(val $bport assay_broker_workers)" 2
check "slots" "$(val $bport 'assay_broker_slots{kind="generate"}')" 16
check "queue depth (pending, job nobody runs)" \
  "$(val $bport "assay_queue_depth{job=\"$idle\",stage=\"waiting\",kind=\"tag\",state=\"pending\"}")" \
  "$(sql "SELECT sum(pending) FROM job_progress WHERE job_id = $idle")"
wdone=$(echo "$(val $w1port 'assay_worker_tasks_total{kind="generate",outcome="done"}') + $(val $w2port 'assay_worker_tasks_total{kind="generate",outcome="done"}')" | bc)
check "worker tasks done" "$wdone" "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'")"
wfail=$(echo "$(val $w1port 'assay_worker_tasks_total{kind="generate",outcome="failed"}') + $(val $w2port 'assay_worker_tasks_total{kind="generate",outcome="failed"}')" | bc)
hcount=$(echo "$(val $w1port 'assay_worker_task_seconds_count{kind="generate"}') + $(val $w2port 'assay_worker_task_seconds_count{kind="generate"}')" | bc)
check "latency histogram count" "$hcount" "$(echo "$wdone + $wfail" | bc)"
check "worker failures = broker retries + dead" "$wfail" \
  "$(echo "$(val $bport assay_broker_retries_total) + $(val $bport assay_broker_dead_total)" | bc)"
ptok=$(echo "$(sum $w1port 'assay_endpoint_tokens_total{endpoint="sim",type="prompt"}') + $(sum $w2port 'assay_endpoint_tokens_total{endpoint="sim",type="prompt"}')" | bc)
check "prompt tokens" "$ptok" "$(sql "SELECT sum(prompt_tokens) FROM samples WHERE job_id = $job")"
cost=$(echo "$(sum $w1port 'assay_endpoint_cost_total{endpoint="sim"}') + $(sum $w2port 'assay_endpoint_cost_total{endpoint="sim"}')" | bc -l)
check "cost" "$cost" "$(sql "SELECT sum((output->>'cost')::float8) FROM task_outputs WHERE job_id = $job")"
rl=$(echo "$(val $w1port 'assay_endpoint_ratelimited_total{endpoint="sim"}') + $(val $w2port 'assay_endpoint_ratelimited_total{endpoint="sim"}')" | bc)
echo "rate-limited tasks handed back (worker metrics): $rl"

code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2"; }
for p in $bport $w1port $w2port; do
  [ "$(code $p /healthz)" = 200 ] || { echo "FAIL healthz on $p"; errors=$((errors + 1)); }
  [ "$(code $p /readyz)" = 200 ] || { echo "FAIL readyz on $p"; errors=$((errors + 1)); }
done
[ "$(code $sport /readyz)" = 503 ] || { echo "FAIL the standby is ready"; errors=$((errors + 1)); }
[ "$(code $bport /nothing)" = 404 ] || { echo "FAIL unknown path"; errors=$((errors + 1)); }
# (read whole first: grep -q stops at its match and, under pipefail, a curl still
# writing would fail the pipeline)
bm=$(m $bport)
grep -q '^# TYPE assay_broker_dispatched_total counter' <<<"$bm" || { echo "FAIL no TYPE line"; errors=$((errors + 1)); }
[ $errors -eq 0 ] || fail "$errors metrics disagree with the database"
echo "PASS metrics_scrape"
