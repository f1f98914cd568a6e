#!/usr/bin/env bash
# cli_views: the reporting views (sql/020_reporting.sql) on known data
# (cli_fixture.sql): every view's figures, `assay report --json` giving the same
# figures, and the assay_reporting role reading the views and nothing else.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup cli_views
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -q -v ON_ERROR_STOP=1 \
  -f "$IT_ROOT/tests/integration/cli_fixture.sql" >/dev/null || fail "could not load the fixture"

# expect "SQL" "EXPECTED": rows joined with ';', columns with '|'
expect() {
  local got
  got=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -At -v ON_ERROR_STOP=1 \
    -c "$1" | paste -sd ';' -) || fail "query failed: $1"
  [ "$got" = "$2" ] || fail "$1
  expected: $2
  got:      $got"
}

# funnel: 4 items; gen 3 of 4 done (1 dead), ver 2 of 3 (1 open), gen2 1, leak 2 (1 cancelled)
expect "SELECT stage, job_items, items_in, items_done, tasks, done, dead, cancelled, open, samples
        FROM report_job_funnel WHERE job_id = 1 ORDER BY stage_idx" \
  "gen|4|4|3|4|3|1|0|0|7;ver|4|3|2|3|2|0|0|1|0;gen2|4|1|1|1|1|0|0|0|2;leak|4|3|2|3|2|0|1|0|0"
expect "SELECT stage, job_items, items_in, tasks FROM report_job_funnel WHERE job_id = 2" "only|0|0|0"

# pass rate: item 1 round 1: correct flag wins over the value (2 of 4 pass);
# item 2: 2 of 2 (a correct flag passes a 0.0 value); item 3 has no verify score;
# item 1 round 2: 0 of 1 (its second sample has no verify score)
expect "SELECT round, item_id, samples, passed, pass_rate FROM report_pass_rate ORDER BY 1, 2" \
  "1|1|4|2|0.5;1|2|2|2|1;2|1|1|0|0"
expect "SELECT round, bucket, lo, hi, items FROM report_pass_rate_histogram ORDER BY 1, 2" \
  "1|5|0.5|0.6|1;1|9|0.9|1.0|1;2|0|0.0|0.1|1"

# item mix of dataset ds (4 items)
expect "SELECT dimension, value, items, share FROM report_item_mix WHERE dataset = 'ds'
        ORDER BY dimension, value COLLATE \"C\"" \
  "category|(none)|1|0.25;category|手术|1|0.25;category|药物|2|0.5;intent|(none)|1|0.25;intent|用药|2|0.5;intent|诊断|1|0.25;tag|a|2|0.5;tag|b|2|0.5"
# exported datasets: 7 samples of stage gen (items 1 x4, 2 x2, 3 x1), 2 outputs of leak
expect "SELECT dataset_id, dimension, value, rows, round(share::numeric, 3) FROM report_dataset_mix
        ORDER BY 1, 2, value COLLATE \"C\"" \
  "1|category|手术|1|0.143;1|category|药物|6|0.857;1|intent|(none)|1|0.143;1|intent|用药|4|0.571;1|intent|诊断|2|0.286;1|tag|a|6|0.857;1|tag|b|4|0.571;2|category|药物|2|1.000;2|intent|用药|1|0.500;2|intent|诊断|1|0.500;2|tag|a|2|1.000;2|tag|b|1|0.500"

# spend per day, job, endpoint, model
expect "SELECT day, job_id, endpoint, model, samples, cached, prompt_tokens, completion_tokens,
        reasoning_tokens, round(cost_usd::numeric, 4) FROM report_spend ORDER BY 1, 3" \
  "2026-01-01|1|sim|m1|4|1|400|200|30|0.0300;2026-01-02|1|o3|m2|4|0|800|400|320|0.2000;2026-01-02|1|sim|m1|1|0|100|50|10|0.0100"

# latency: generate done in 100, 200, 300 (w2), 400 ms between 10:00:00 and 10:00:10
expect "SELECT kind, coalesce(worker, '*'), done, round(per_second::numeric, 2), mean_ms, p50_ms,
        p90_ms, max_ms FROM report_task_latency WHERE job_id = 1 ORDER BY 1, 2" \
  "generate|*|4|0.40|250|250|370|400;generate|w1|3|0.30|233.33333333333334|200|360|400;generate|w2|1|0.50|300|300|300|300;leak_removal|*|2|2.00|6|6|6.8|7;leak_removal|w1|2|2.00|6|6|6.8|7;verify|*|2|2.00|15|15|19|20;verify|w2|2|2.00|15|15|19|20"
expect "SELECT kind, to_char(minute, 'HH24:MI'), done FROM report_throughput ORDER BY 1" \
  "generate|10:00|4;leak_removal|10:00|2;verify|10:00|2"

# failures by reason
expect "SELECT stage, kind, reason, tasks, dead, recovered, retrying, extra_attempts, example
        FROM report_failures ORDER BY 1, 3" \
  "gen|generate|endpoint timeout|1|0|1|0|2|endpoint timeout: after 30s;gen|generate|http 500|1|1|0|0|4|http 500: bad gateway;ver|verify|endpoint timeout|1|0|0|1|1|endpoint timeout: again"

# leak removal: 2 cases, 3 spans, residual 0.2 and 0.6, one flagged
expect "SELECT stage, cases, cases_with_removals, spans_removed, spans_per_case, residual_flagged,
        round(residual_leak_mean::numeric, 3), residual_leak_max FROM report_leak_removal" \
  "leak|2|2|3|1.5000000000000000|1|0.400|0.6"
expect "SELECT reason, spans, cases FROM report_leak_reasons ORDER BY 1" "code|1|1;diagnosis|2|2"

# scores
expect "SELECT scorer, bucket, lo, hi, scores FROM report_score_distribution ORDER BY 1, 2" \
  "outcome|7|0.7|0.8|1;verify|0|0.0|0.1|2;verify|3|0.3|0.4|1;verify|6|0.6|0.7|1;verify|8|0.8|0.9|1;verify|9|0.9|1.0|2"
expect "SELECT scorer, scores, valued, round(mean::numeric, 4), min, median, max
        FROM report_score_summary ORDER BY 1" \
  "outcome|1|1|0.7000|0.7|0.7|0.7;verify|7|7|0.5286|0|0.6|1"

# every report view is commented
expect "SELECT count(*) FROM pg_class c WHERE c.relkind = 'v' AND c.relname LIKE 'report%'
        AND obj_description(c.oid, 'pg_class') IS NULL" "0"

# assay report --json gives the same figures
"$BIN/assay" report 1 --json >"$IT_TMP/report.json" || fail "assay report --json failed"
got=$(jq -c '[.job, (.funnel | map(.items_done)), (.pass_rate_histogram | map([.round, .bucket, .items])),
  (.spend_by_endpoint | map([.endpoint, .samples, .cost_usd])), (.spend_by_day | map(.cost_usd)),
  (.latency[0] | [.kind, .worker, .done, .p90_ms]), (.failures | length),
  (.leak_removal[0].spans_removed), (.scores | map([.scorer, .scores]))]' "$IT_TMP/report.json")
want='[1,[3,2,1,2],[[1,5,1],[1,9,1],[2,0,1]],[["o3",4,0.2],["sim",5,0.04]],[0.03,0.21],["generate","(all)",4,370],3,3,[["outcome",1],["verify",7]]]'
[ "$got" = "$want" ] || fail "report --json: expected $want, got $got"
# the terminal tables show the same numbers
"$BIN/assay" report 1 >"$IT_TMP/report.txt" || fail "assay report failed"
grep -Eq '^ +1 +0 +gen +generate +1 +4 +4 +3 +75.0 ' "$IT_TMP/report.txt" || fail "funnel row missing: $(cat "$IT_TMP/report.txt")"
grep -Eq '^  o3 +m2 +4 +0 +800 +400 +320 +0.2000$' "$IT_TMP/report.txt" || fail "spend row missing"
# without JOB: every job (job 2's funnel row is there)
"$BIN/assay" report --json | jq -e '.job == null and (.funnel | map(.job_id) | unique) == [1, 2]' >/dev/null ||
  fail "report without JOB does not cover every job"

# the reporting role: a login role that is a member reads the views and nothing else
role="rep_$$"
drop_role() { psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true; }
trap 'rc=$?; drop_role; (exit $rc); it_cleanup' EXIT
sql "CREATE ROLE $role LOGIN IN ROLE assay_reporting" >/dev/null
asrep() { psql -h "$PGHOST" -p "$PGPORT" -U "$role" -d "$IT_DBNAME" -At -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
out=$(asrep "SELECT sum(items_done) FROM report_job_funnel") || fail "reporting role cannot read a view: $out"
[ "$out" = "8" ] || fail "reporting role read $out from report_job_funnel"
for v in job_progress report_pass_rate report_pass_rate_histogram report_item_mix report_dataset_mix \
         report_spend report_task_latency report_throughput report_failures report_leak_removal \
         report_leak_reasons report_score_distribution report_score_summary; do
  asrep "SELECT count(*) FROM $v" >/dev/null || fail "reporting role cannot read $v"
done
for q in "SELECT count(*) FROM tasks" "SELECT count(*) FROM samples" "SELECT * FROM items LIMIT 1" \
         "INSERT INTO jobs (name, dataset, spec, spec_hash) VALUES ('x', 'x', '{}', 'x')" \
         "UPDATE tasks SET state = 'dead'" "DELETE FROM workers" "CREATE TABLE t (x int)" \
         "CREATE VIEW v AS SELECT 1"; do
  out=$(asrep "$q") && fail "reporting role could run: $q"
  echo "$out" | grep -q "permission denied" || fail "unexpected error for \"$q\": $out"
done
[ "$(sql "SELECT count(*) FROM jobs")" = "2" ] || fail "the jobs table changed"
# the migration is idempotent with the role already there (a second database)
createdb -h "$PGHOST" -p "$PGPORT" -U postgres "${IT_DBNAME}_b" || fail "could not create a second database"
ASSAY_DB="host=$PGHOST port=$PGPORT user=postgres dbname=${IT_DBNAME}_b" rc=0
"$BIN/assay" db migrate >/dev/null 2>&1 || rc=$?
dropdb -h "$PGHOST" -p "$PGPORT" -U postgres "${IT_DBNAME}_b" || true
[ $rc -eq 0 ] || fail "migrating a second database with the role present failed"
echo "PASS cli_views"
