#!/usr/bin/env bash
# queue_bench.sh [N] [--rss-tasks M]: durable no-op tasks end to end, assay vs beanstalkd.
#
# assay: `assay submit` imports N items (COPY), the broker claims them as noop tasks
# behind the job's cursor, two workers run them, and each task is written once, done,
# in batched transactions (a second connection writes these while the first claims);
# the clock runs from the submit until the job is done in Postgres.
# Postgres runs with its durable defaults (fsync on, synchronous_commit on).
# beanstalkd: binlog on (-b) with its default fsync policy; one producer puts N jobs
# while two workers reserve + delete them (the client is tests/bench/beanstalk_client.c,
# one round trip per command). The clock runs from the first put until the last delete.
# Both run three times; the medians are compared. With --rss-tasks M the broker's
# peak RSS is also measured while M tasks are pending.
# Last line: assay_tasks_per_s=N beanstalkd_tasks_per_s=M ratio=R
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
n=${1:-200000}
rss_tasks=0
[ "${2:-}" = "--rss-tasks" ] && rss_tasks=${3:-1000000}
runs=${RUNS:-3}
bin=$root/build/bin
[ -x "$bin/assay-broker" ] && [ -x build/bench/beanstalk_client ] ||
  { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 2; }
command -v beanstalkd >/dev/null || { echo "beanstalkd missing: apt-get install beanstalkd" >&2; exit 2; }

. tests/lib/pg.sh
tmp=$(mktemp -d /tmp/assay-qbench.XXXXXX)
chmod 755 "$tmp"
pids=()
track() { echo "$1" >>"$tmp/pids"; }
cleanup() {
  for p in "${pids[@]}" $(cat "$tmp/pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop "$tmp/pg"
  rm -rf "$tmp"
}
trap cleanup EXIT
PG_EXTRA_OPTS="-c max_wal_size=8GB -c checkpoint_timeout=30min -c wal_buffers=64MB" pg_start "$tmp/pg"
export ASSAY_CONFIG=/dev/null

# the comparison is with beanstalkd over plain TCP: run assay plain as well
export ASSAY_CURVE=off
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p; for p in $(shuf -i 20000-32000 -n 50); do port_free "$p" && { echo "$p"; return; }; done; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

seq 1 "$n" | awk '{printf "{\"id\":\"t%d\",\"question\":\"q%d\"}\n", $1, $1}' >"$tmp/items.jsonl"
echo '{"name":"bench","stages":[{"name":"noop","kind":"noop","params":{"echo":false}}]}' >"$tmp/spec.json"

assay_run() {
  local db=bench_$1
  pg_as createdb -h "$PGHOST" -p "$PGPORT" -U postgres "$db"
  export ASSAY_DB="host=$PGHOST port=$PGPORT user=postgres dbname=$db"
  "$bin/assay" db migrate >/dev/null
  local port; port=$(pick_port)
  "$bin/assay-broker" --bind "tcp://127.0.0.1:$port" --log-level warn >"$tmp/broker.log" 2>&1 &
  local bpid=$!
  "$bin/assay-worker" --broker "tcp://127.0.0.1:$port" --slots noop=512 --log-level warn >"$tmp/w1.log" 2>&1 &
  local w1=$!
  "$bin/assay-worker" --broker "tcp://127.0.0.1:$port" --slots noop=512 --log-level warn >"$tmp/w2.log" 2>&1 &
  local w2=$!
  track $bpid; track $w1; track $w2
  sleep 0.5
  local t0 t1
  t0=$(date +%s.%N)
  "$bin/assay" submit --spec "$tmp/spec.json" --input "$tmp/items.jsonl" --dataset "b$1" >/dev/null 2>&1
  while [ "$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$db" -Atq -c "SELECT state FROM jobs")" != done ]; do
    sleep 0.05
  done
  t1=$(date +%s.%N)
  local stored; stored=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$db" -Atq \
    -c "SELECT count(*) FROM tasks WHERE state = 'done'")
  [ "$stored" = "$n" ] || { echo "assay run $1: $stored tasks done of $n" >&2; exit 1; }
  kill -TERM $w1 $w2 $bpid; wait $w1 $w2 $bpid 2>/dev/null || true
  pg_as dropdb -h "$PGHOST" -p "$PGPORT" -U postgres "$db"
  echo "$n $t0 $t1" | awk '{printf "%.0f\n", $1 / ($3 - $2)}'
}

beanstalk_run() {
  local port; port=$(pick_port)
  rm -rf "$tmp/binlog"; mkdir -p "$tmp/binlog"
  beanstalkd -l 127.0.0.1 -p "$port" -b "$tmp/binlog" &
  local bs=$!
  track $bs
  sleep 0.3
  local t0 t1 half=$((n / 2))
  t0=$(date +%s.%N)
  build/bench/beanstalk_client put 127.0.0.1 "$port" "$n" >"$tmp/put.out" &
  local p=$!
  build/bench/beanstalk_client work 127.0.0.1 "$port" "$half" >"$tmp/c1.out" &
  local c1=$!
  build/bench/beanstalk_client work 127.0.0.1 "$port" $((n - half)) >"$tmp/c2.out" &
  local c2=$!
  wait $p $c1 $c2
  t1=$(date +%s.%N)
  kill -TERM $bs; wait $bs 2>/dev/null || true
  local got; got=$(cat "$tmp/c1.out" "$tmp/c2.out" | awk '{s += $2} END {print s}')
  [ "$got" = "$n" ] || { echo "beanstalkd run: $got of $n done" >&2; exit 1; }
  echo "$n $t0 $t1" | awk '{printf "%.0f\n", $1 / ($3 - $2)}'
}

: >"$tmp/assay.txt"; : >"$tmp/bs.txt"
for r in $(seq 1 "$runs"); do
  a=$(assay_run "$r"); echo "assay run $r: $a tasks/s" >&2; echo "$a" >>"$tmp/assay.txt"
  b=$(beanstalk_run); echo "beanstalkd run $r: $b tasks/s" >&2; echo "$b" >>"$tmp/bs.txt"
done

if [ "$rss_tasks" -gt 0 ]; then
  seq 1 "$rss_tasks" | awk '{printf "{\"question\":\"r%d\"}\n", $1}' >"$tmp/big.jsonl"
  pg_as createdb -h "$PGHOST" -p "$PGPORT" -U postgres bench_rss
  export ASSAY_DB="host=$PGHOST port=$PGPORT user=postgres dbname=bench_rss"
  "$bin/assay" db migrate >/dev/null
  "$bin/assay" submit --spec "$tmp/spec.json" --input "$tmp/big.jsonl" --dataset big >/dev/null 2>&1
  port=$(pick_port)
  "$bin/assay-broker" --bind "tcp://127.0.0.1:$port" --log-level warn >"$tmp/broker-rss.log" 2>&1 &
  bpid=$!; pids+=($bpid)
  "$bin/assay-worker" --broker "tcp://127.0.0.1:$port" --slots noop=512 --log-level warn >/dev/null 2>&1 &
  pids+=($!)
  "$bin/assay-worker" --broker "tcp://127.0.0.1:$port" --slots noop=512 --log-level warn >/dev/null 2>&1 &
  pids+=($!)
  pending=0
  for i in $(seq 1 100); do
    # first-stage tasks are claimed from job_items: job_progress counts them
    pending=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d bench_rss -Atq -c \
      "SELECT coalesce(sum(pending), 0) FROM job_progress")
    [ "$pending" -gt 0 ] && break
    sleep 0.2
  done
  sleep 5
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$bpid/status")
  echo "broker peak RSS with $pending tasks pending (of $rss_tasks): $((rss_kb / 1024)) MB" >&2
  echo "broker_rss_mb=$((rss_kb / 1024)) pending_tasks=$pending"
fi

am=$(median <"$tmp/assay.txt"); bm=$(median <"$tmp/bs.txt")
echo "n=$n runs=$runs assay=[$(paste -sd, "$tmp/assay.txt")] beanstalkd=[$(paste -sd, "$tmp/bs.txt")]"
echo "assay_tasks_per_s=$am beanstalkd_tasks_per_s=$bm ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN {printf "%.2f", a / b}')"
