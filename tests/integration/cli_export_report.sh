#!/usr/bin/env bash
# cli_export_report: exports and reports on known rows (cli_fixture.sql plus the rows
# below):
#   - `export --format samples` without --stage never picks a stage without samples:
#     it asks (listing the stages) when the last generate stage is empty, refuses a
#     stage that makes no samples, and an export of 0 rows says why on stderr;
#   - every format carries the full lineage (job, spec hash, stage, item id, sample id,
#     template hash, terminology version where they apply);
#   - `--format rl` marks free-text gold (open questions) reward style "model";
#   - report_dataset_mix counts every format's lines per item;
#   - report_item_mix reads intent_label; report_leak_reasons groups by category;
#   - a stage with runnable tasks and no up worker for its kind is named by
#     `assay status` (once, with the kind) and listed by report_failures.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup cli_export_report
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -q -v ON_ERROR_STOP=1 \
  -f "$IT_ROOT/tests/integration/cli_fixture.sql" >/dev/null || fail "could not load the fixture"
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || fail "could not load the rows"
-- job 4: answer (generate, 6 samples) -> verify -> teacher (generate, nothing yet)
INSERT INTO items (id, dataset, kind, question, options, answer, record, content_hash) VALUES
 (201, 'hq', 'open', 'q201', NULL, '医生的回答：多休息，按时服药。', '{"intent_label": "治疗方案"}', 'h201'),
 (202, 'hq', 'open', 'q202', NULL, '医生的回答：建议到医院检查。', '{"intent_label": "病情诊断"}', 'h202'),
 (203, 'hq', 'mcq', 'q203', '{"A": "x", "B": "y"}', 'A', '{}', 'h203');
INSERT INTO jobs (id, name, dataset, spec, spec_hash) VALUES (4, 'lines', 'hq', '{}', 'spec4');
INSERT INTO job_items (job_id, item_id) VALUES (4, 201), (4, 202), (4, 203);
INSERT INTO stages (id, job_id, idx, name, kind, round) VALUES
 (41, 4, 0, 'answer', 'generate', 1), (42, 4, 1, 'verify', 'verify', 1), (43, 4, 2, 'teacher', 'generate', 2);
UPDATE stages SET claimed_seq = (SELECT max(seq) FROM job_items WHERE job_id = 4) WHERE id = 41;
INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt) VALUES
 (401, 4, 41, 201, 'generate', 'done', 1), (402, 4, 41, 202, 'generate', 'done', 1),
 (403, 4, 41, 203, 'generate', 'done', 1);
INSERT INTO samples (id, task_id, job_id, stage_id, item_id, idx, answer, reasoning, template_hash) VALUES
 (4001, 401, 4, 41, 201, 0, 'a1', 'r', 'th1'), (4002, 401, 4, 41, 201, 1, 'a2', 'r', 'th1'),
 (4003, 402, 4, 41, 202, 0, 'a3', 'r', 'th1'), (4004, 402, 4, 41, 202, 1, 'a4', 'r', 'th1'),
 (4005, 403, 4, 41, 203, 0, 'A', 'r', 'th1'), (4006, 403, 4, 41, 203, 1, 'B', 'r', 'th1');
INSERT INTO scores (sample_id, job_id, item_id, scorer, value, detail, terms_version) VALUES
 (4001, 4, 201, 'verify', 1.0, NULL, 'tv1'), (4002, 4, 201, 'verify', 0.2, NULL, 'tv1'),
 (4003, 4, 202, 'verify', 0.9, NULL, 'tv1'), (4004, 4, 202, 'verify', 0.5, NULL, 'tv1'),
 (4005, 4, 203, 'verify', 1.0, NULL, NULL), (4006, 4, 203, 'verify', 0.0, NULL, NULL),
 (4001, 4, 201, 'hack_check', 0.0, '{"hacked": false}', 'tv1'),
 (4002, 4, 201, 'hack_check', 1.0, '{"hacked": true}', 'tv1');
UPDATE jobs SET state = 'done' WHERE id = 4;

-- job 5 (running): its first stage runs judge (items not claimed yet), its second
-- hack_check (one task due); the fixture's only up worker serves generate and verify
INSERT INTO jobs (id, name, dataset, spec, spec_hash) VALUES (5, 'stuck', 'hq', '{}', 'spec5');
INSERT INTO job_items (job_id, item_id) VALUES (5, 201), (5, 202);
INSERT INTO stages (id, job_id, idx, name, kind) VALUES
 (51, 5, 0, 'judged', 'judge'), (52, 5, 1, 'hack', 'hack_check'), (53, 5, 2, 'band', 'filter');
INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt) VALUES
 (501, 5, 52, 201, 'hack_check', 'pending', 0);
-- job 6 (paused) waits for hack_check too: paused is not stalled
INSERT INTO jobs (id, name, dataset, spec, spec_hash, state) VALUES (6, 'paused', 'hq', '{}', 'spec6', 'paused');
INSERT INTO stages (id, job_id, idx, name, kind) VALUES (61, 6, 0, 'hack', 'hack_check');
INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt) VALUES
 (601, 6, 61, 201, 'hack_check', 'pending', 0);
-- a stale worker with hack_check slots does not count
INSERT INTO workers (name, slots, last_seen, connected) VALUES
 ('old-hack', '{"hack_check": 4}', now() - interval '10 minutes', true);

-- leak removal audit as worker/domain/leak.c writes it: reasons name the diagnosis
INSERT INTO task_outputs (task_id, job_id, stage_id, item_id, attempt, output) VALUES
 (12, 1, 4, 3, 1, '{"removed": [
   {"span": "诊断：肺炎", "reason": "names the gold diagnosis “肺炎”"},
   {"span": "哮喘", "reason": "names the gold diagnosis “支气管哮喘”"},
   {"span": "J18.9", "reason": "gives the ICD code J18.9 (code of 肺炎)"},
   {"span": "肺部感染", "reason": "names “肺部感染” (alias of 肺炎 in the knowledge graph)"},
   {"span": "阿莫西林", "reason": "names “阿莫西林”, a treatment specific to the diagnosis (drug for 肺炎 in the knowledge graph)"},
   {"span": "出院诊断：…", "reason": "section 出院诊断 states the conclusion or its management"},
   {"span": "考虑肺炎", "reason": "near mention of the gold “肺炎” (coverage 0.83)"}]}');
SQL

expect() {
  local got
  got=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -At -v ON_ERROR_STOP=1 \
    -c "$1" | paste -sd ';' -) || fail "query failed: $1"
  [ "$got" = "$2" ] || fail "$1
  expected: $2
  got:      $got"
}
# run EXPECTED_RC ARGS...: stdout in $OUT, stderr in $ERR
run() {
  local want=$1 rc=0
  shift
  "$BIN/assay" "$@" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
  OUT=$(cat "$IT_TMP/out") ERR=$(cat "$IT_TMP/err")
  [ "$rc" = "$want" ] || fail "assay $* exited $rc (expected $want): $OUT $ERR"
}

# ------------------------------------------------------------ stage choice
run 2 export 4 --format samples -o "$IT_TMP/x.jsonl"
echo "$ERR" | grep -q 'last generate stage "teacher" has no samples yet' || fail "no reason: $ERR"
echo "$ERR" | grep -q 'answer (6 samples), teacher (0 samples)' || fail "stages not listed: $ERR"
echo "$ERR" | grep -q -- '--stage' || fail "no hint: $ERR"
[ ! -e "$IT_TMP/x.jsonl" ] || fail "an ambiguous export wrote a file"
run 2 export 4 --format sft
echo "$ERR" | grep -q 'answer (6 samples)' || fail "sft without --stage: $ERR"
run 2 export 4 --stage verify --format samples
echo "$ERR" | grep -q 'stage "verify" (verify) makes no samples' || fail "$ERR"
# explicitly asked for the empty stage: 0 rows, and why
run 0 export 4 --stage teacher --format samples -o "$IT_TMP/empty.jsonl"
echo "$ERR" | grep -q 'exported 0 rows: stage "teacher" (generate) has no samples yet' || fail "0 rows unexplained: $ERR"
# job 1: the last stage is leak_removal, its last generate stage gen2 has samples
run 0 export 1 --format samples -o "$IT_TMP/j1.jsonl"
echo "$OUT" | grep -q 'exported 2 rows (samples, stage gen2)' || fail "$OUT"
[ -z "$ERR" ] || fail "unexpected stderr: $ERR"
# job 1's gen2 has one scored sample: no pair, 0 rows, and why
run 0 export 1 --stage gen2 --format pairs -o "$IT_TMP/pairs1.jsonl"
echo "$ERR" | grep -q 'exported 0 rows: no item of stage "gen2" has two samples' || fail "$ERR"

# ------------------------------------------------------------ lineage, rl style
for f in samples sft sft-think best pairs rl rl-openrlhf grpo; do
  run 0 export 4 --stage answer --format $f --min-score 0.8 -o "$IT_TMP/$f.jsonl"
done
/usr/bin/python3 - "$IT_TMP" <<'PY' || fail "lineage or rl style wrong (see above)"
import json, sys
tmp = sys.argv[1]
rows = lambda f: [json.loads(l) for l in open(f"{tmp}/{f}.jsonl", encoding="utf-8")]
need = {"samples": ["job", "spec_hash", "stage", "item_id", "sample_id", "template_hash", "terms_version"],
        "sft": ["job", "spec_hash", "stage", "item_id", "sample_id", "template_hash", "terms_version"],
        "sft-think": ["job", "spec_hash", "stage", "item_id", "sample_id", "template_hash", "terms_version"],
        "grpo": ["job", "spec_hash", "stage", "item_id", "sample_id", "template_hash"],
        "best": ["job", "spec_hash", "stage", "item_id", "sample_id", "template_hash", "terms_version"],
        "pairs": ["job", "spec_hash", "stage", "item_id", "chosen_sample", "rejected_sample", "template_hash", "terms_version"],
        "rl": ["job", "spec_hash", "stage", "item_id", "template_hash", "terms_version"],
        "rl-openrlhf": ["job", "spec_hash", "stage", "item_id", "template_hash", "terms_version"]}
counts = {}
for f, keys in need.items():
    rs = rows(f)
    assert rs, f"{f}: no rows"
    counts[f] = len(rs)
    for r in rs:
        lin = r["lineage"]
        for k in keys:
            assert k in lin, f"{f}: lineage lacks {k}: {lin}"
        assert lin["job"] == 4 and lin["spec_hash"] == "spec4" and lin["stage"] == "answer", (f, lin)
        assert lin["item_id"] in (201, 202, 203), (f, lin)
        assert lin["template_hash"] == "th1", (f, lin)
        # items 201 and 202 were scored with terminology tv1; 203 (mcq) without one
        if "terms_version" in keys and lin["item_id"] != 203:
            assert lin["terms_version"] == "tv1", (f, lin)
style = {r["extra_info"]["item_id"]: r["reward_model"]["style"] for r in rows("rl")}
assert style == {201: "model", 202: "model", 203: "rule"}, style
ostyle = {r["lineage"]["item_id"]: r["reward_style"] for r in rows("rl-openrlhf")}
assert ostyle == style, ostyle
assert counts["sft"] == 3 and counts["best"] == 3 and counts["pairs"] == 3 and counts["rl"] == 3, counts
assert counts["samples"] == 6 and counts["grpo"] == 6, counts
print("lineage ok", counts)
PY

# ------------------------------------------------------------ dataset mix
# every format's dataset: its rows per intent add up to its lines
for f in samples sft best pairs rl rl-openrlhf grpo; do
  want=$(wc -l <"$IT_TMP/$f.jsonl")
  got=$(sql "SELECT sum(m.rows) FROM report_dataset_mix m JOIN datasets d ON d.id = m.dataset_id
             WHERE d.path = '$IT_TMP/$f.jsonl' AND m.dimension = 'intent'")
  [ "$got" = "$want" ] || fail "report_dataset_mix counts $got rows for format $f, the file has $want"
done
expect "SELECT m.value, m.rows FROM report_dataset_mix m JOIN datasets d ON d.id = m.dataset_id
        WHERE d.path = '$IT_TMP/sft.jsonl' AND m.dimension = 'intent' ORDER BY value COLLATE \"C\"" \
  "(none)|1;治疗方案|1;病情诊断|1"
expect "SELECT m.format, m.value, m.rows FROM report_dataset_mix m JOIN datasets d ON d.id = m.dataset_id
        WHERE d.path = '$IT_TMP/samples.jsonl' AND m.dimension = 'intent' ORDER BY value COLLATE \"C\"" \
  "samples|(none)|2;samples|治疗方案|2;samples|病情诊断|2"
# the dataset record carries the export's own lineage
expect "SELECT lineage->>'format', lineage->>'stage', lineage->>'min_score', lineage->'template_hashes',
               lineage->'terms_versions', lineage->>'items_recorded'
        FROM datasets WHERE path = '$IT_TMP/sft.jsonl'" 'sft|answer|0.8|["th1"]|["tv1"]|true'
# the fixture's datasets (recorded before dataset_items) are still derived from their stage
expect "SELECT dataset_id, sum(rows) FROM report_dataset_mix WHERE dataset_id IN (1, 2) AND dimension = 'category'
        GROUP BY 1 ORDER BY 1" "1|7;2|3"

# ------------------------------------------------------------ item mix, leak reasons
expect "SELECT value, items FROM report_item_mix WHERE dataset = 'hq' AND dimension = 'intent'
        ORDER BY value COLLATE \"C\"" "(none)|1;治疗方案|1;病情诊断|1"
expect "SELECT reason, spans, cases, distinct_reasons FROM report_leak_reasons WHERE job_id = 1
        ORDER BY spans DESC, reason COLLATE \"C\"" \
  "diagnosis|2|2|1;gold diagnosis named|2|1|2;ICD code given|1|1|1;alias of the diagnosis named|1|1|1;code|1|1|1;near mention of the gold diagnosis|1|1|1;section stating the conclusion or its management|1|1|1;treatment specific to the diagnosis named|1|1|1"

# ------------------------------------------------------------ stalled stages
# w1 (generate, verify) was heard from just now, however long the test took so far
sql "UPDATE workers SET last_seen = now() WHERE name = 'w1'" >/dev/null
expect "SELECT job_id, stage, kind, runnable FROM report_stalled_stages ORDER BY job_id, stage_idx" \
  "5|judged|judge|2;5|hack|hack_check|1"
expect "SELECT stage, kind, reason, tasks FROM report_failures WHERE job_id = 5 ORDER BY stage" \
  "hack|hack_check|stalled: no connected worker serves this kind|1;judged|judge|stalled: no connected worker serves this kind|2"
run 0 status 5
[ "$(echo "$OUT" | grep -c 'stalled:')" = 2 ] || fail "status should name 2 stalled stages: $OUT"
echo "$OUT" | grep -q 'stalled: stage judged has 2 runnable tasks but no connected worker serves kind judge' || fail "$OUT"
echo "$OUT" | grep -q 'stalled: stage hack has 1 runnable tasks but no connected worker serves kind hack_check' || fail "$OUT"
run 0 status
[ "$(echo "$OUT" | grep -c 'stalled:')" = 2 ] || fail "status without JOB: each stalled stage once: $OUT"
run 0 status 5 --json
[ "$(echo "$OUT" | jq -c '[.stalled[] | [.stage, .kind, .runnable]]')" = '[["judged","judge",2],["hack","hack_check",1]]' ] ||
  fail "status --json: $OUT"
run 0 status 1
echo "$OUT" | grep -q 'stalled' && fail "job 1's verify stage is served by w1: $OUT"
# a worker with judge slots connects: only hack_check is left
sql "INSERT INTO workers (name, slots, last_seen, connected) VALUES ('judge-1', '{\"judge\": 2}', now(), true)" >/dev/null
run 0 status 5
[ "$(echo "$OUT" | grep -c 'stalled:')" = 1 ] || fail "after a judge worker: $OUT"
echo "$OUT" | grep -q 'kind hack_check' || fail "$OUT"
run 0 workers
echo "$OUT" | grep -q '^no up worker serves hack_check: 1 runnable tasks wait (job 5 stage hack)$' || fail "workers: $OUT"
[ "$(echo "$OUT" | grep -c '^no up worker serves')" = 1 ] || fail "workers: $OUT"
# report --json lists it under failures
run 0 report 5 --json
[ "$(echo "$OUT" | jq -c '[.failures[] | [.stage, .reason]]')" = '[["hack","stalled: no connected worker serves this kind"]]' ] ||
  fail "report failures: $(echo "$OUT" | jq -c .failures)"
# analysts read the new view; the CLI's role may write the export records
expect "SELECT has_table_privilege('assay_reporting', 'report_stalled_stages', 'SELECT'),
               has_table_privilege('assay_reporting', 'dataset_items', 'SELECT'),
               has_table_privilege('assay_operator', 'dataset_items', 'INSERT')" "t|f|t"
echo "PASS cli_export_report"
