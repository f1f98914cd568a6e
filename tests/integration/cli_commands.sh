#!/usr/bin/env bash
# cli_commands: every `assay` subcommand: --help with examples, --json that parses,
# unknown flags, unknown and malformed job ids, malformed specs and items, an
# unreachable database (clear message on stderr, documented exit code, nothing
# changed: row counts compared before and after), colour only on a terminal
# without NO_COLOR, and the happy paths against a real broker and worker.
# timeout: 240
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup cli_commands
A=$BIN/assay

# run EXPECTED_RC CMD...: runs assay, keeps stdout/stderr in $OUT / $ERR
run() {
  local want=$1 rc=0
  shift
  "$A" "$@" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
  OUT=$(cat "$IT_TMP/out")
  ERR=$(cat "$IT_TMP/err")
  [ "$rc" -eq "$want" ] || fail "assay $*: exit $rc, expected $want
stdout: $OUT
stderr: $ERR"
}
err_has() { grep -qF -- "$1" "$IT_TMP/err" || fail "stderr lacks \"$1\": $ERR"; }
out_has() { grep -qF -- "$1" "$IT_TMP/out" || fail "stdout lacks \"$1\": $OUT"; }
is_json() { jq -e . "$IT_TMP/out" >/dev/null 2>&1 || fail "not JSON: $OUT"; }
counts() {
  sql "SELECT (SELECT count(*) FROM items) || '/' || (SELECT count(*) FROM jobs) || '/' ||
       (SELECT count(*) FROM stages) || '/' || (SELECT count(*) FROM tasks) || '/' ||
       (SELECT count(*) FROM datasets) || '/' || string_agg(id || state, ',' ORDER BY id)
       FROM jobs"
}

cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "cli", "stages": [{"name": "echo", "kind": "noop", "params": {}}]}
JSON
for i in $(seq 1 20); do printf '{"id":"q%d","question":"问题 %d","answer":"A"}\n' "$i" "$i"; done >"$IT_TMP/items.jsonl"

# ---------------------------------------------------------------- global
run 0 --help
for c in db submit jobs status pause resume cancel retry export report workers endpoints run terms; do
  out_has "  $c "
done
out_has "exit codes: 0 ok, 1 failed, 2 usage error, 3 not found, 4 database error"
run 0 --version; out_has "assay "
run 2 frobnicate; err_has 'unknown command "frobnicate" (see `assay --help`)'
run 2 --frob jobs; err_has 'unknown option "--frob"'
run 2; err_has "usage: assay"
run 2 --log-level loud jobs; err_has 'unknown log level "loud"'

# ---------------------------------------------------------------- --help
for c in "db" "submit" "jobs" "status" "pause" "resume" "cancel" "retry" "export" "report" \
         "workers" "endpoints" "run" "terms" "terms load" "terms snapshot" "terms info"; do
  # shellcheck disable=SC2086
  run 0 $c --help
  out_has "usage: assay"
  out_has "examples:"
  [ -z "$ERR" ] || fail "assay $c --help wrote to stderr: $ERR"
done

# ---------------------------------------------------------- unknown flags
before=$(counts)
for c in "db status" "db migrate" "submit --spec $IT_TMP/spec.json" "jobs" "status" "pause 1" \
         "resume 1" "cancel 1" "retry 1" "export 1" "report" "workers" "endpoints" "run noop" \
         "terms snapshot" "terms load"; do
  # shellcheck disable=SC2086
  run 2 $c --bogus
  err_has '"--bogus"'
done
run 2 workers --stale abc; err_has "--stale needs a number of seconds"
run 2 report --html; err_has "--html needs a file name"
run 2 report 1 --json --html x.html; err_has "exclude each other"
run 2 run; err_has "usage: assay run"
run 2 run nosuchkind; err_has 'unknown task kind "nosuchkind"'
run 2 db frob; err_has 'unknown subcommand "frob"'
run 2 terms frob; err_has 'unknown subcommand "frob"'
[ "$(counts)" = "$before" ] || fail "usage errors changed the database"

# ------------------------------------------------------ malformed job ids
for c in status pause resume cancel retry export report; do
  run 2 $c abc; err_has '"abc" is not a job id'
  run 2 $c -- ; err_has '"--"'
done
for c in pause resume cancel retry export; do run 2 $c; err_has "which job?"; done

# ------------------------------------------------------ malformed input
echo '{"name": "x", "stages": [' >"$IT_TMP/broken.json"
run 1 submit --spec "$IT_TMP/broken.json" --input "$IT_TMP/items.jsonl"
err_has "broken.json"; err_has "invalid JSON"
echo '{"name": "x", "stages": [{"name": "a", "kind": "nosuchkind"}]}' >"$IT_TMP/badkind.json"
run 1 submit --spec "$IT_TMP/badkind.json" --input "$IT_TMP/items.jsonl"; err_has "nosuchkind"
run 1 submit --spec "$IT_TMP/nonexistent.json" --input "$IT_TMP/items.jsonl"; err_has "nonexistent.json"
{ head -n 5 "$IT_TMP/items.jsonl"; echo '{"question": '; } >"$IT_TMP/baditems.jsonl"
run 1 submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/baditems.jsonl"; err_has "baditems.jsonl:6"
run 2 submit --input "$IT_TMP/items.jsonl"; err_has "--spec is required"
[ "$(counts)" = "$before" ] || fail "malformed input changed the database"

# --------------------------------------------------- unreachable database
good_db=$ASSAY_DB
export ASSAY_DB="host=/nonexistent-socket-dir port=5432 user=postgres dbname=nope connect_timeout=2"
for c in "db migrate" "db status" "submit --spec $IT_TMP/spec.json --input $IT_TMP/items.jsonl" \
         "jobs" "status" "status 1" "pause 1" "resume 1" "cancel 1" "retry 1" "retry 1 --list" \
         "export 1" "report" "report 1 --html $IT_TMP/unreach.html" "workers"; do
  # shellcheck disable=SC2086
  run 4 $c
  err_has "could not connect"
  err_has "hint: set the connection with --db, the ASSAY_DB environment variable"
  [ -z "$OUT" ] || fail "assay $c printed on stdout with no database: $OUT"
done
[ ! -e "$IT_TMP/unreach.html" ] || fail "report wrote a file with no database"
run 4 terms snapshot -o "$IT_TMP/snap"; err_has "could not connect to the database"
[ ! -e "$IT_TMP/snap" ] || fail "terms snapshot wrote a file with no database"
# --db wins over the environment
run 0 --db "$good_db" jobs --json; is_json
export ASSAY_DB=$good_db
[ "$(counts)" = "$before" ] || fail "the unreachable-database runs changed the database"

# ---------------------------------------------------- submit, jobs, status
run 0 submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --dry-run --json; is_json
[ "$(counts)" = "$before" ] || fail "submit --dry-run changed the database"
run 0 submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json; is_json
job=$(jq -r .job "$IT_TMP/out")
[ "$job" -gt 0 ] 2>/dev/null || fail "no job id: $OUT"
run 0 jobs --json; is_json
[ "$(jq -r ".[] | select(.id == $job) | .items" "$IT_TMP/out")" = 20 ] || fail "jobs --json: $OUT"
run 0 jobs; out_has "JOB"; out_has "cli"
run 0 status "$job" --json; is_json
[ "$(jq -r '.stages[0].tasks + .stages[0].pending' "$IT_TMP/out")" -ge 0 ] || fail "status --json: $OUT"

# ------------------------------------------------- unknown job ids (exist: no)
before=$(counts)
for c in "status 999999" "pause 999999" "resume 999999" "cancel 999999" "retry 999999" \
         "retry 999999 --list" "export 999999" "report 999999" "report 999999 --html $IT_TMP/x.html"; do
  # shellcheck disable=SC2086
  run 3 $c
  err_has "job 999999 does not exist (see \`assay jobs\`)"
done
[ ! -e "$IT_TMP/x.html" ] || fail "report of an unknown job wrote a file"
[ "$(counts)" = "$before" ] || fail "unknown job ids changed the database"

# ------------------------------------------------------ pause / resume
run 0 pause "$job"; out_has "job $job paused"
[ "$(sql "SELECT state FROM jobs WHERE id = $job")" = paused ] || fail "not paused"
run 0 pause "$job"; out_has "already paused"
run 0 resume "$job"; out_has "job $job running"
run 0 resume "$job"; out_has "already running"
[ "$(sql "SELECT state FROM jobs WHERE id = $job")" = running ] || fail "not running"

# ---------------------------------------- broker + worker finish the job
start_broker
start_worker w1 noop=8
wait_job "$job" 60
run 0 status "$job"; out_has "job $job"; out_has "[done]"
if grep -q $'\033' "$IT_TMP/out"; then fail "colour escapes when stdout is not a terminal"; fi
run 0 status "$job" --watch --interval 0.2; out_has "[done]"; out_has "20/20 tasks ended"
if grep -q $'\033' "$IT_TMP/out"; then fail "--watch redraw escapes when stdout is not a terminal"; fi

# colour on a terminal, none with NO_COLOR
if script -qfec "true" /dev/null >/dev/null 2>&1; then
  script -qfec "$A status $job" /dev/null >"$IT_TMP/tty.out" 2>&1 || fail "status on a terminal failed"
  grep -q $'\033\[1m' "$IT_TMP/tty.out" || fail "no colour on a terminal: $(cat -v "$IT_TMP/tty.out")"
  NO_COLOR=1 script -qfec "$A status $job" /dev/null >"$IT_TMP/tty.out" 2>&1 || fail "status on a terminal failed"
  if grep -q $'\033\[1m' "$IT_TMP/tty.out"; then fail "colour despite NO_COLOR"; fi
fi

# --------------------------------------------------------------- export
run 0 export "$job" -o "$IT_TMP/out.jsonl" --json; is_json
[ "$(jq -r .rows "$IT_TMP/out")" = 20 ] || fail "export --json: $OUT"
[ "$(wc -l <"$IT_TMP/out.jsonl")" -eq 20 ] || fail "export wrote $(wc -l <"$IT_TMP/out.jsonl") rows"
run 3 export "$job" --stage nosuchstage -o "$IT_TMP/nostage.jsonl"; err_has "nosuchstage"
[ ! -e "$IT_TMP/nostage.jsonl" ] || fail "export of an unknown stage wrote a file"

# ---------------------------------------------------------------- retry
sql "UPDATE tasks SET state = 'dead', last_error = 'injected: test' WHERE id IN
     (SELECT id FROM tasks WHERE job_id = $job ORDER BY id LIMIT 3)" >/dev/null
run 0 retry "$job" --list --json; is_json
[ "$(jq 'length' "$IT_TMP/out")" = 3 ] || fail "retry --list --json: $OUT"
[ "$(jq -r '.[0].error' "$IT_TMP/out")" = "injected: test" ] || fail "retry --list lost the error: $OUT"
run 0 retry "$job" --list; out_has "injected: test"
run 0 retry "$job" --dead; out_has "3 dead tasks back to pending"
wait_job "$job" 60
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'")" = 20 ] || fail "retried tasks did not finish"

# --------------------------------------------------------------- report
run 0 report "$job"; out_has "Funnel by stage"; out_has "noop"
run 0 report "$job" --json; is_json
[ "$(jq -r '.funnel[0].items_done' "$IT_TMP/out")" = 20 ] || fail "report funnel: $OUT"
[ "$(jq -r '[.latency[] | select(.worker == "w1")][0].done' "$IT_TMP/out")" = 20 ] || fail "report latency: $OUT"
run 0 report "$job" --html "$IT_TMP/r.html"; out_has "wrote $IT_TMP/r.html"
grep -q '<svg' "$IT_TMP/r.html" || fail "no chart in the HTML report"

# --------------------------------------------------------------- cancel
# no worker: the job cannot finish before it is cancelled
kill -TERM "$WORKER_PID" 2>/dev/null || true
wait "$WORKER_PID" 2>/dev/null || true
run 0 submit --spec "$IT_TMP/spec.json" --dataset "$(sql "SELECT dataset FROM jobs WHERE id = $job")" --json
job2=$(jq -r .job "$IT_TMP/out")
run 0 cancel "$job2"; out_has "job $job2 cancelled"
[ "$(sql "SELECT state FROM jobs WHERE id = $job2")" = cancelled ] || fail "not cancelled"
run 1 resume "$job2"; err_has "job $job2 is cancelled"
run 1 retry "$job2"; err_has "cannot be retried"
run 1 cancel "$job"; err_has "job $job is done"

# -------------------------------------------------------------- workers
sql "DELETE FROM workers" >/dev/null
sql "INSERT INTO workers (name, slots, last_seen, connected, done, failed) VALUES
     ('wa', '{\"generate\": 8, \"verify\": 4}', now(), true, 120, 3),
     ('wb', '{\"noop\": 2}', now() - interval '5 minutes', true, 7, 0),
     ('wc', '{}', now() - interval '2 hours', false, 1, 1),
     ('wd', '{}', now() - interval '3 days', false, 0, 0)" >/dev/null
run 0 workers
echo "$OUT" | grep -Eq '^  wa +up +generate=8,verify=4 +0 +120 +3 ' || fail "workers: $OUT"
echo "$OUT" | grep -Eq '^  wb +stale +noop=2 ' || fail "workers: $OUT"
echo "$OUT" | grep -Eq '^  wc +gone ' || fail "workers: $OUT"
if echo "$OUT" | grep -q ' wd '; then fail "workers shows a worker gone for days without --all"; fi
run 0 workers --all --json; is_json
[ "$(jq -c 'map([.name, .state, .done])' "$IT_TMP/out")" = '[["wa","up",120],["wb","stale",7],["wc","gone",1],["wd","gone",0]]' ] ||
  fail "workers --json: $OUT"
[ "$(jq -c '.[0].slots' "$IT_TMP/out")" = '{"generate":8,"verify":4}' ] || fail "workers slots: $OUT"
run 0 workers --stale 600 --json
[ "$(jq -r '.[1].state' "$IT_TMP/out")" = up ] || fail "--stale 600: $OUT"
sql "DELETE FROM workers" >/dev/null
run 0 workers; out_has "no workers seen yet"

# ------------------------------------------------------------ endpoints
# endpoints come from the config, need no database, and never show keys
cat >"$IT_TMP/ep.conf" <<'CONF'
[endpoint.sim]
base_url = http://127.0.0.1:9/v1
model = sim-r1
style = r1
api_key_env = CLI_TEST_SECRET
price_in_per_mtok = 0.5
price_out_per_mtok = 2
rpm = 600
[endpoint.open]
base_url = http://127.0.0.1:9/v1
model = plain-model
CONF
export CLI_TEST_SECRET=sk-cli-test-7f3a9c1e
saved_db=$ASSAY_DB
export ASSAY_DB="host=/nonexistent-socket-dir dbname=nope"
run 0 --config "$IT_TMP/ep.conf" endpoints
out_has "sim-r1"; out_has "http://127.0.0.1:9/v1/chat/completions"; out_has "plain-model"
echo "$OUT" | grep -Eq '^sim +yes .* r1 +0.50 +2.00 +600 .* set$' || fail "endpoints: $OUT"
echo "$OUT" | grep -Eq '^open +yes .* none$' || fail "endpoints: $OUT"
run 0 --config "$IT_TMP/ep.conf" endpoints --json; is_json
[ "$(jq -c 'map([.name, .ok, .model, .api_key, .rpm])' "$IT_TMP/out")" = '[["sim",true,"sim-r1","set",600],["open",true,"plain-model","none",0]]' ] ||
  fail "endpoints --json: $OUT"
if grep -rq "sk-cli-test" "$IT_TMP/out" "$IT_TMP/err"; then fail "endpoints printed the API key"; fi
unset CLI_TEST_SECRET
run 1 --config "$IT_TMP/ep.conf" endpoints
echo "$OUT" | grep -Eq '^sim +no .*CLI_TEST_SECRET.* is not set' || fail "endpoints with the key unset: $OUT"
err_has "some endpoints cannot be loaded"
run 0 endpoints; out_has "no endpoints configured"
export ASSAY_DB=$saved_db

# ----------------------------------------------------------------- run
printf '{"question":"x"}\n' >"$IT_TMP/run.jsonl"
"$A" run noop <"$IT_TMP/run.jsonl" >"$IT_TMP/run.out" 2>"$IT_TMP/run.err" || fail "run noop failed: $(cat "$IT_TMP/run.err")"
jq -e '.echo.question == "x"' "$IT_TMP/run.out" >/dev/null || fail "run noop: $(cat "$IT_TMP/run.out")"

# ---------------------------------------------------------------- terms
T=$IT_ROOT/tests/data/terms
run 0 terms info "$T" --json; is_json
codes=$(jq -r .codes "$IT_TMP/out")
[ "$codes" -gt 0 ] || fail "terms info --json: $OUT"
run 2 terms info "$T" --bogus; err_has '"--bogus"'
run 1 terms load "$IT_TMP/no-such-dir"; err_has "no-such-dir"
[ "$(sql "SELECT count(*) FROM terms_codes")" = 0 ] || fail "a failed terms load changed terms_codes"
run 4 --db "host=/nonexistent-socket-dir dbname=nope" terms load "$T"; err_has "could not connect"
run 0 terms load "$T"; out_has "loaded terminology"
[ "$(sql "SELECT count(*) FROM terms_codes")" -gt 0 ] || fail "terms load loaded nothing"
run 0 terms snapshot -o "$IT_TMP/terms.snap"; out_has "wrote terminology"
run 0 terms info "$IT_TMP/terms.snap" --json; is_json
[ "$(jq -r '[.codes, .mapped] | @tsv' "$IT_TMP/out")" = "$codes	true" ] || fail "terms info of the snapshot: $OUT"

# ------------------------------------------------------------- db
run 0 db status --json; is_json
[ "$(jq -r 'map(.name) | index("020_reporting.sql") != null' "$IT_TMP/out")" = true ] || fail "db status: $OUT"
run 0 db migrate; out_has "schema up to date"
echo "PASS cli_commands"
