#!/usr/bin/env bash
# readme_quickstart: the README's Quick start, executed as written. The ```sh blocks
# of the "## Quick start" section are extracted from README.md and run in order, in
# one shell, in a fresh directory that looks like the top of the source tree (ops/
# and build/bin linked in), against a fresh database (ASSAY_DB, which the README
# asks the user to set) and the real assay-simllm, broker and worker the blocks
# start. Then every pipeline shipped in ops/pipelines/ that the README did not
# submit is submitted with the sample input its generate template asks for, and
# every job must finish with every stage done: no stage left at 0 %, nothing
# stalled, the README's exports written.
#
# The README uses fixed local addresses (127.0.0.1:8199 and :5555), so the test runs
# in a network namespace of its own when it can (root, unshare); otherwise it needs
# those ports free and skips (77) when they are not.
# timeout: 600
set -euo pipefail

if [ -z "${QS_NETNS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
   command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  QS_NETNS=1 exec unshare -n bash "$0" "$@"
fi
[ -n "${QS_NETNS:-}" ] && ip link set dev lo up

. "$(dirname "$0")/lib.sh"
for port in 8199 5555; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "SKIP: 127.0.0.1:$port is in use and no network namespace is available"
    exit 77
  fi
done

IT_NAME=readme_quickstart
IT_TMP=$(mktemp -d /tmp/assay-it-readme_quickstart.XXXXXX)
chmod 755 "$IT_TMP"
qs_cleanup() {
  local rc=$?
  # what the README started in the background, then the usual cleanup
  for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null || true; done
  (exit $rc)
  it_cleanup
}
trap qs_cleanup EXIT
if [ -z "${PGHOST:-}" ]; then
  IT_OWN_PG=$IT_TMP/pg
  pg_start "$IT_OWN_PG" || fail "could not start PostgreSQL"
fi
IT_DBNAME="it_readme_quickstart_$$"
createdb -h "$PGHOST" -p "$PGPORT" -U postgres "$IT_DBNAME" || fail "could not create database"

# ------------------------------------------------------------ the blocks
python3 - "$IT_ROOT/README.md" >"$IT_TMP/quickstart.sh" <<'PY' || fail "could not extract the Quick start"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
if not m:
    sys.exit("README.md has no '## Quick start' section")
blocks = re.findall(r"^```sh\n(.*?)^```", m.group(1), re.S | re.M)
if not blocks:
    sys.exit("the Quick start has no ```sh block")
for i, b in enumerate(blocks, 1):
    print(f"# ---- README Quick start, block {i}\n{b}")
PY
grep -q 'assay submit' "$IT_TMP/quickstart.sh" || fail "the Quick start submits no job"
grep -q 'assay-worker' "$IT_TMP/quickstart.sh" || fail "the Quick start starts no worker"
grep -q 'assay-simllm .*--answer-key' "$IT_TMP/quickstart.sh" ||
  fail "the Quick start runs assay-simllm without an answer key"
echo "---- the Quick start as extracted:"
cat "$IT_TMP/quickstart.sh"
echo "----"

# a directory shaped like the source tree: ops/ and the built programs in build/bin
work=$IT_TMP/work
mkdir -p "$work/build"
ln -s "$IT_ROOT/ops" "$work/ops"
ln -s "$BIN" "$work/build/bin"
# the user's environment: ASSAY_DB set as the README asks, nothing else of ours
unset ASSAY_CONFIG ASSAY_BROKER ASSAY_BROKER_BIND
export ASSAY_DB="host=$PGHOST port=$PGPORT user=postgres dbname=$IT_DBNAME"
export NO_COLOR=1
# `assay status --watch` returns when the jobs finish. Bound it: a stage that stays
# stalled (no worker serves its kind: report_stalled_stages) for 30 s, or jobs that
# have not finished after 300 s, fail the test with the status instead of hanging
assay() {
  case " $* " in
    *" --watch "*)
      "$BIN/assay" "$@" >"$IT_TMP/watch.log" 2>&1 &
      local pid=$! stalled_for=0 i st
      for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        st=$(sql "SELECT string_agg(format('job %s stage %s (%s)', job_id, stage, kind), ', ')
                  FROM report_stalled_stages")
        if [ -n "$st" ]; then stalled_for=$((stalled_for + 1)); else stalled_for=0; fi
        if [ $stalled_for -ge 30 ]; then
          kill "$pid" 2>/dev/null || true
          "$BIN/assay" status >&2 || true
          fail "stalled for 30 s, no worker serves: $st"
        fi
        sleep 1
      done
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        "$BIN/assay" status >&2 || true
        fail "assay $* did not return in 300 s"
      fi
      wait "$pid" || fail "assay $* failed: $(tail -5 "$IT_TMP/watch.log")"
      tail -n 20 "$IT_TMP/watch.log" ;;
    *) "$BIN/assay" "$@" ;;
  esac
}
cd "$work"
it_log "running the Quick start"
trap 'echo "FAIL: a Quick start command failed (exit $?): $BASH_COMMAND" >&2' ERR
set -x
. "$IT_TMP/quickstart.sh"
set +x
trap - ERR
it_log "the Quick start ran through"
unset -f assay
for f in simllm.log broker.log worker.log; do [ -f "$f" ] && cp "$f" "$IT_TMP/$f"; done
for p in $(jobs -p); do
  kill -0 "$p" 2>/dev/null || fail "a program the Quick start started in the background has exited"
done

# ------------------------------------------------------------ every shipped pipeline
# the sample input for a pipeline: the one its first generate stage's template reads
input_for() {
  local tmpl
  tmpl=$(jq -r '[.stages[] | select(.kind == "generate") | .params.template][0]' "$1")
  case "$tmpl" in
    answer_mcq*) echo ops/sample/exam_mcq.jsonl ;;
    answer_case*) echo ops/sample/cases.jsonl ;;
    answer_open*) echo ops/sample/health_questions.jsonl ;;
    *) fail "no sample input known for template \"$tmpl\" of $1" ;;
  esac
}
for spec in ops/pipelines/*.json; do
  name=$(jq -r .name "$spec")
  [ "$(sql "SELECT count(*) FROM jobs WHERE name = '$name'")" = 0 ] || continue
  "$BIN/assay" submit --spec "$spec" --input "$(input_for "$spec")" >/dev/null ||
    fail "could not submit $spec"
done
for spec in ops/pipelines/*.json; do
  name=$(jq -r .name "$spec")
  [ "$(sql "SELECT count(*) FROM jobs WHERE name = '$name'")" = 1 ] || fail "pipeline $spec has no job"
done
# the Quick start's worker serves every kind they need: status names no stalled stage
for job in $(sql "SELECT id FROM jobs WHERE state = 'running' ORDER BY id"); do
  "$BIN/assay" status "$job" >"$IT_TMP/status.txt"
  grep -q 'stalled' "$IT_TMP/status.txt" && fail "job $job: $(cat "$IT_TMP/status.txt")"
done
for job in $(sql "SELECT id FROM jobs ORDER BY id"); do wait_job "$job" 300; done
"$BIN/assay" jobs

# every stage of every job has done tasks and nothing open; nothing stalled
bad=$(sql "SELECT string_agg(format('job %s (%s) stage %s (%s): %s done of %s, %s open',
                     j.id, j.name, p.stage, p.kind, p.done, p.tasks, p.pending + p.leased), '; ')
           FROM job_progress p JOIN jobs j ON j.id = p.job_id
           WHERE p.done = 0 OR p.pending + p.leased > 0")
[ -z "$bad" ] || { for j in $(sql "SELECT id FROM jobs"); do "$BIN/assay" status "$j" >&2; done; fail "$bad"; }
# nothing failed for good: the simulator injects no fault here
dead=$(sql "SELECT string_agg(format('job %s stage %s: %s', t.job_id, st.name, t.last_error), '; ')
            FROM tasks t JOIN stages st ON st.id = t.stage_id WHERE t.state = 'dead'")
[ -z "$dead" ] || fail "dead tasks: $dead"
# the README's exports were written
for f in $(grep -o -- '-o [^ ]*\.jsonl' "$IT_TMP/quickstart.sh" | cut -c4-); do
  [ -s "$f" ] || fail "the Quick start's export $f is missing or empty"
done
[ -s answers.jsonl ] || fail "the offline run wrote nothing"
jobs_n=$(sql "SELECT count(*) FROM jobs")
specs_n=$(ls ops/pipelines/*.json | wc -l)
echo "pipelines=$specs_n jobs=$jobs_n tasks_done=$(sql "SELECT count(*) FROM tasks WHERE state = 'done'") dead=$(sql "SELECT count(*) FROM tasks WHERE state = 'dead'")"
echo "PASS readme_quickstart"
