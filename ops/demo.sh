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
  --latency-dist lognormal --latency-jitter 0.5 --fault-429 0.02 --fault-500 0.02 \
  --quiet >var/log/simllm.log 2>&1 &
pids+=($!)
export ASSAY_ENDPOINT_SIM_BASE_URL="http://127.0.0.1:$sim_port/v1"
export ASSAY_ENDPOINT_SIM_MODEL=sim-r1 ASSAY_ENDPOINT_SIM_STYLE=r1
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
  "$bin/assay-worker" --name "demo-worker-$w" --slots generate=64 \
    >"var/log/worker-$w.log" 2>&1 &
  pids+=($!)
done

echo
echo "== submitting the sample jobs"
job_mcq=$("$bin/assay" submit --spec ops/pipelines/demo_mcq.json \
          --input ops/sample/exam_mcq.jsonl --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
job_open=$("$bin/assay" submit --spec ops/pipelines/demo_open.json \
           --input ops/sample/health_questions.jsonl --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
echo "jobs $job_mcq (exam questions) and $job_open (health questions) submitted"

for i in $(seq 1 600); do
  left=$(pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d assay -Atq \
         -c "SELECT count(*) FROM jobs WHERE id IN ($job_mcq, $job_open) AND state <> 'done'")
  [ "$left" = 0 ] && break
  sleep 0.5
done
[ "$left" = 0 ] || { echo "demo: jobs did not finish in time; see var/log/" >&2; exit 1; }

echo
echo "== status"
"$bin/assay" status "$job_mcq"
"$bin/assay" status "$job_open"
echo
echo "== export"
"$bin/assay" export "$job_mcq" -o var/out/distill_mcq.jsonl
"$bin/assay" export "$job_open" -o var/out/open_questions.jsonl
echo
echo "== summary"
pg_as psql -h "$PGHOST" -p "$PGPORT" -U postgres -d assay -q -c "
SELECT j.id AS job, j.name, count(DISTINCT s.item_id) AS items, count(s.id) AS samples,
       count(s.id) FILTER (WHERE s.reasoning <> '') AS with_reasoning,
       sum(s.prompt_tokens + s.completion_tokens) AS tokens,
       (SELECT count(*) FROM tasks t WHERE t.job_id = j.id AND t.attempt > 1) AS retried_tasks
FROM jobs j JOIN samples s ON s.job_id = j.id WHERE j.id IN ($job_mcq, $job_open)
GROUP BY j.id, j.name ORDER BY j.id"
echo "outputs: $root/var/out/distill_mcq.jsonl, $root/var/out/open_questions.jsonl"
echo "logs:    $root/var/log/   database: $ASSAY_DB"
