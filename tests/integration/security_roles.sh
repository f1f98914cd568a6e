#!/usr/bin/env bash
# security_roles: the least-privilege database roles of sql/030_roles.sql. A CLI
# connecting with a reporting login cannot submit or cancel and says why; an
# operator login submits and cancels; a broker login runs a whole job.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup security_roles

sfx=$$
rep=it_rep_$sfx op=it_op_$sfx brk=it_brk_$sfx
roles_cleanup() {
  local rc=$?
  for r in $rep $op $brk; do
    psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qAt -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
  (exit $rc)
  it_cleanup
}
trap roles_cleanup EXIT
sql "CREATE ROLE $rep LOGIN IN ROLE assay_reporting" >/dev/null
sql "CREATE ROLE $op LOGIN IN ROLE assay_operator" >/dev/null
sql "CREATE ROLE $brk LOGIN IN ROLE assay_broker" >/dev/null
as() { echo "host=$PGHOST port=$PGPORT user=$1 dbname=$IT_DBNAME"; }

seq 1 200 | awk '{printf "{\"id\":\"r%d\",\"question\":\"q%d\",\"answer\":\"A\",\"options\":{\"A\":\"x\",\"B\":\"y\"}}\n", $1, $1}' >"$IT_TMP/items.jsonl"
echo '{"name":"roles","stages":[{"name":"echo","kind":"noop","params":{}}]}' >"$IT_TMP/spec.json"

# reporting: reads, but cannot submit or cancel
rc=0
"$BIN/assay" --db "$(as $rep)" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" \
  >"$IT_TMP/rep-submit.out" 2>"$IT_TMP/rep-submit.err" || rc=$?
echo "reporting submit: exit $rc: $(head -1 "$IT_TMP/rep-submit.err")"
[ $rc -ne 0 ] || fail "the reporting role could submit"
grep -q "permission denied" "$IT_TMP/rep-submit.err" || fail "submit: no permission error"
grep -q "assay_operator" "$IT_TMP/rep-submit.err" || fail "submit: the error does not name the role needed"
[ "$(sql "SELECT count(*) FROM jobs")" = 0 ] || fail "a job exists after a refused submit"

job=$("$BIN/assay" --db "$(as $op)" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "the operator role could not submit"
rc=0
"$BIN/assay" --db "$(as $rep)" cancel "$job" >"$IT_TMP/rep-cancel.out" 2>"$IT_TMP/rep-cancel.err" || rc=$?
echo "reporting cancel: exit $rc: $(head -1 "$IT_TMP/rep-cancel.err")"
[ $rc -eq 4 ] || fail "reporting cancel: expected exit 4 (database refused), got $rc"
grep -q "permission denied" "$IT_TMP/rep-cancel.err" || fail "cancel: no permission error"
[ "$(sql "SELECT state FROM jobs WHERE id = $job")" = running ] || fail "the job changed state"
"$BIN/assay" --db "$(as $rep)" report "$job" >/dev/null || fail "the reporting role cannot read the reports"
rc=0
psql "$(as $rep)" -qAt -c "UPDATE tasks SET state = 'done'" >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the reporting role could update tasks"

# the broker runs with its own role: the whole job goes through
ASSAY_DB=$(as $brk) start_broker
start_worker w1 noop=16
wait_job "$job" 60
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job")" = 200 ] || fail "outputs missing"
rc=0
psql "$(as $brk)" -qAt -c "INSERT INTO jobs (name, dataset, spec, spec_hash) VALUES ('x','x','{}','x')" \
  >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the broker role could create a job"
rc=0
psql "$(as $brk)" -qAt -c "DELETE FROM task_outputs" >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the broker role could delete outputs"

# the operator cancels (no worker runs: the job cannot end first)
kill -TERM "$WORKER_PID" 2>/dev/null || true
wait "$WORKER_PID" 2>/dev/null || true
job2=$("$BIN/assay" --db "$(as $op)" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" \
       --json --name roles2 | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job2" ] || fail "the operator could not submit a second job"
"$BIN/assay" --db "$(as $op)" cancel "$job2" >/dev/null || fail "the operator could not cancel"
echo "PASS security_roles"
