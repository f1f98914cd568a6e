#!/usr/bin/env bash
# ops/demo.sh: the whole factory on one machine with the bundled sample data.
# Installs missing Debian packages (as root; otherwise prints the apt-get line),
# builds, starts an embedded PostgreSQL under ./var/pg, assay-simllm, the broker
# and two workers, runs the sample jobs side by side, exports the results under
# ./var/out and prints a summary. Everything it started is stopped at the end
# (the database stays in ./var/pg for `assay` and psql; ops/demo.sh --clean wipes it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = "--clean" ]; then rm -rf var; echo "removed ./var"; exit 0; fi

ops/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$root/build/bin

mkdir -p var/log var/out
chmod 755 var
. tests/lib/pg.sh
PG_EXTRA_OPTS=" " pg_start "$root/var/pg"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop "$root/var/pg"
}
trap cleanup EXIT

pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atq \
  -c "SELECT 1 FROM pg_database WHERE datname = 'assay'" | grep -q 1 ||
  pg_as createdb -h "$PGHOST" -p "$PGPORT" -U postgres assay
export ASSAY_DB="host=$PGHOST port=$PGPORT user=postgres dbname=assay"
export ASSAY_CONFIG=/dev/null
"$bin/assay" db migrate

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
sim_port=18199; while ! port_free $sim_port; do sim_port=$((sim_port + 1)); done
broker_port=15555; while ! port_free $broker_port; do broker_port=$((broker_port + 1)); done

"$bin/assay-simllm" --listen "127.0.0.1:$sim_port" --mode r1 --latency-ms 50 \
  --answer-key ops/sample/simllm_answer_key.jsonl \
  --latency-dist lognormal --latency-jitter 0.5 --fault-429 0.02 --fault-500 0.02 \
  --quiet >var/log/simllm.log 2>&1 &
pids+=($!)
# three named endpoints, all served by assay-simllm here: sim, policy, teacher
cat >var/assay.conf <<CONF
[endpoint.sim]
base_url = http://127.0.0.1:$sim_port/v1
model = sim-r1
style = r1
[endpoint.policy]
base_url = http://127.0.0.1:$sim_port/v1
model = sim-r1
style = r1
rpm = 60000
[endpoint.judge]
base_url = http://127.0.0.1:$sim_port/v1
model = sim-r1
style = r1
[endpoint.teacher]
base_url = http://127.0.0.1:$sim_port/v1
model = sim-r1r
style = r1
CONF
export ASSAY_CONFIG=$root/var/assay.conf
export ASSAY_BROKER="tcp://127.0.0.1:$broker_port"
# CurveZMQ: a broker key pair and one worker key pair, the worker's in the allowlist
mkdir -p var/keys
[ -f var/keys/broker.key ] || "$bin/assay" keygen --out var/keys/broker >/dev/null
[ -f var/keys/worker.key ] || "$bin/assay" keygen --out var/keys/worker >/dev/null
cp var/keys/worker.pub var/keys/allowed
export ASSAY_BROKER_SECRET_KEY_FILE=$root/var/keys/broker.key
export ASSAY_BROKER_ALLOWED_KEYS=$root/var/keys/allowed
export ASSAY_WORKER_KEY_FILE=$root/var/keys/worker.key
export ASSAY_WORKER_BROKER_PUBLIC_KEY=$root/var/keys/broker.pub

"$bin/assay-broker" --bind "$ASSAY_BROKER" >var/log/broker.log 2>&1 &
pids+=($!)
for w in 1 2; do
  "$bin/assay-worker" --name "demo-worker-$w" --terms ops/sample/terms \
    --slots generate=64,judge=16,leak_removal=1,verify=1,hack_check=1 \
    >"var/log/worker-$w.log" 2>&1 &
  pids+=($!)
done

echo
echo "== submitting the sample jobs (they run side by side)"
submit() { "$bin/assay" submit --spec "$1" --input "$2" --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p'; }
job_cases=$(submit ops/pipelines/demo_cases.json ops/sample/cases.jsonl)
job_mcq=$(submit ops/pipelines/verifiable_mcq.json ops/sample/exam_mcq.jsonl)
job_open=$(submit ops/pipelines/nonverifiable_open.json ops/sample/health_questions.jsonl)
echo "jobs $job_cases (case records: leak removal, answers, verifier, hack checks),"
echo "     $job_mcq (exam questions: two rounds of difficulty filtering, then the teacher),"
echo "     $job_open (health questions: the non-verifiable line: candidates, preference judge, hack checks)"
jobs="$job_cases, $job_mcq, $job_open"

for i in $(seq 1 600); do
  left=$(pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d assay -Atq \
         -c "SELECT count(*) FROM jobs WHERE id IN ($jobs) AND state <> 'done'")
  [ "$left" = 0 ] && break
  sleep 0.5
done
[ "$left" = 0 ] || { echo "demo: jobs did not finish in time; see var/log/" >&2; exit 1; }

echo
echo "== status"
for j in $job_cases $job_mcq $job_open; do "$bin/assay" status "$j"; done
echo
echo "== export"
"$bin/assay" export "$job_cases" --stage leak -o var/out/cases_leak_removed.jsonl
"$bin/assay" export "$job_cases" --stage answer -o var/out/cases_samples.jsonl
"$bin/assay" export "$job_mcq" --stage teacher -o var/out/mcq_teacher_samples.jsonl
"$bin/assay" export "$job_cases" --format sft -o var/out/cases_sft.jsonl
"$bin/assay" export "$job_mcq" --format sft -o var/out/mcq_sft.jsonl
"$bin/assay" export "$job_mcq" --format rl -o var/out/mcq_rl.jsonl
"$bin/assay" export "$job_open" --stage candidates -o var/out/open_samples.jsonl
"$bin/assay" export "$job_open" --format best --min-score 0 -o var/out/open_best_of_k.jsonl
"$bin/assay" export "$job_open" --format pairs --min-margin 0.2 -o var/out/open_pairs.jsonl
echo
echo "== summary"
pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d assay -q -c "
SELECT j.id AS job, j.name, count(DISTINCT s.item_id) AS items, count(s.id) AS samples,
       count(s.id) FILTER (WHERE s.reasoning <> '') AS with_reasoning,
       sum(s.prompt_tokens + s.completion_tokens) AS tokens,
       (SELECT count(*) FROM tasks t WHERE t.job_id = j.id AND t.attempt > 1) AS retried_tasks
FROM jobs j JOIN samples s ON s.job_id = j.id WHERE j.id IN ($jobs)
GROUP BY j.id, j.name ORDER BY j.id"
pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d assay -q -c "
SELECT s.job_id AS job, s.scorer, count(*) AS scored, round(avg(s.value)::numeric, 2) AS mean,
       count(*) FILTER (WHERE s.scorer = 'verify' AND s.value >= 0.8) AS verified_correct,
       count(*) FILTER (WHERE s.scorer = 'hack_check' AND (s.detail->>'hacked')::boolean) AS hack_flagged
FROM scores s WHERE s.job_id IN ($jobs) GROUP BY 1, 2 ORDER BY 1, 2"
echo "difficulty funnel of the exam questions (job $job_mcq):"
pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d assay -q -c "
SELECT round, count(*) AS items, count(*) FILTER (WHERE kept) AS kept,
       round(avg(pass_rate)::numeric, 2) AS mean_pass_rate
FROM item_rounds WHERE job_id = $job_mcq GROUP BY round ORDER BY round"
echo "outputs: $root/var/out/ (leak-removed cases, samples, SFT and RL datasets as .jsonl)"
echo "logs:    $root/var/log/   database: $ASSAY_DB"
