#!/usr/bin/env bash
# lease_expiry: leases in Postgres that run out go back to pending (or dead when
# no attempts are left), leases still running are left alone, and a broker that
# starts reclaims every lease of the broker before it and writes the tasks of the
# items it claimed without writing them.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup lease_expiry

for i in 1 2 3 4; do printf '{"id":"l%d","question":"lease %d"}\n' "$i" "$i"; done >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "lease-expiry", "stages": [{"name": "s", "kind": "noop", "max_attempts": 3,
 "timeout_s": 5, "params": {}}]}
JSON

# no worker: the broker claims nothing
start_broker
out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
# as a broker that claimed the job's four items and died before writing their
# tasks would leave it: the next broker writes them as pending
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
sql "UPDATE stages SET claimed_seq = (SELECT max(seq) FROM job_items WHERE job_id = $job)
     WHERE job_id = $job AND idx = 0" >/dev/null
restart_broker
for i in $(seq 1 50); do
  [ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job")" = 4 ] && break
  sleep 0.1
done
grep -q "4 claimed items without a task written as pending" "$IT_TMP/broker.log" ||
  fail "the broker did not write the claimed items' tasks"
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'pending'")" = 4 ] ||
  fail "expected 4 pending tasks"
read -r t1 t2 t3 t4 <<<"$(sql "SELECT string_agg(id::text, ' ' ORDER BY id) FROM tasks WHERE job_id = $job")"

# as a broker that lost track of them would leave them: t1 ran out a minute ago,
# t2 too and has no attempts left, t3 runs for ten more minutes; t4 stays pending
sql "UPDATE tasks SET state = 'leased', attempt = 1, lease_expires = now() - interval '1 minute' WHERE id = $t1" >/dev/null
sql "UPDATE tasks SET state = 'leased', attempt = 3, lease_expires = now() - interval '1 minute' WHERE id = $t2" >/dev/null
sql "UPDATE tasks SET state = 'leased', attempt = 1, lease_expires = now() + interval '10 minutes' WHERE id = $t3" >/dev/null

# the broker sweeps every 10 s
for i in $(seq 1 150); do
  grep -q "leases expired and went back to pending" "$IT_TMP/broker.log" && break
  sleep 0.1
done
grep -q "2 leases expired and went back to pending" "$IT_TMP/broker.log" ||
  fail "the broker did not expire the two lapsed leases"
st() { sql "SELECT state || '|' || attempt || '|' || coalesce(last_error, '') FROM tasks WHERE id = $1"; }
[ "$(st "$t1")" = "pending|1|lease expired" ] || fail "t1: expected pending|1|lease expired, got $(st "$t1")"
[ "$(st "$t2")" = "dead|3|lease expired" ] || fail "t2: expected dead|3|lease expired, got $(st "$t2")"
[ "$(st "$t3")" = "leased|1|" ] || fail "t3: a running lease was touched: $(st "$t3")"
[ "$(st "$t4")" = "pending|0|" ] || fail "t4: expected pending|0|, got $(st "$t4")"
echo "sweep: t1 $(st "$t1"), t2 $(st "$t2"), t3 $(st "$t3")"

# a broker that starts reclaims the leases of the one before it (t3)
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
"$BIN/assay-broker" --bind "$ASSAY_BROKER" >>"$IT_TMP/broker2.log" 2>&1 &
BROKER_PID=$!
IT_PIDS+=("$BROKER_PID")
for i in $(seq 1 50); do
  grep -q "listening on" "$IT_TMP/broker2.log" && break
  sleep 0.1
done
grep -q "active: 1 leased tasks of a previous broker back to pending, 0 dead, 0 claimed" "$IT_TMP/broker2.log" ||
  fail "the new broker did not reclaim t3's lease"
start_worker w noop=4
wait_job "$job" 30
[ "$(st "$t1")" = "done|2|" ] || fail "t1: expected done|2|, got $(st "$t1")"
[ "$(st "$t2")" = "dead|3|lease expired" ] || fail "t2: expected to stay dead, got $(st "$t2")"
[ "$(st "$t3")" = "done|2|" ] || fail "t3: expected done|2|, got $(st "$t3")"
[ "$(st "$t4")" = "done|1|" ] || fail "t4: expected done|1|, got $(st "$t4")"
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job")" = 3 ] || fail "expected 3 outputs"
echo "PASS lease_expiry"
