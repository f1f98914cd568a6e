#!/usr/bin/env bash
# verify_escalate.sh: the verify handler's escalation band against a real
# assay-simllm through `assay run verify`. A rule score inside escalate_band goes
# to the outcome judge (simllm's rule: an answer holding the gold scores >= 0.7,
# another <= 0.4); the output keeps both results and says which decided. A score
# outside the band is the rule's. A judgment passed back as "cached_judge" with a
# matching key, or one the process already received, is reused without a call; an
# unreachable judge leaves the rule's result with the reason; a malformed band is
# refused.
# timeout: 120
source "$(dirname "$0")/llm_lib.bash"
ASSAY=$BUILD/bin/assay
export ASSAY_CONFIG=/dev/null ASSAY_ENDPOINT_SIM_MODEL=sim-r1
TERMS=$SRC/tests/data/verify

verify() {
    local url=$1
    shift
    ASSAY_ENDPOINT_SIM_BASE_URL=$url "$ASSAY" run verify --terms "$TERMS" "$@" 2>>"$TMP/run.err" ||
        true
}

cat >"$TMP/in.jsonl" <<'J'
{"id":"mid","kind":"case","answer":"大叶性肺炎","sample":{"answer":"诊断：支气管肺炎"}}
{"id":"exact","kind":"case","answer":"细菌性肺炎","sample":{"answer":"诊断：细菌性肺炎"}}
J

start_sim OK --mode r1
URL="http://127.0.0.1:$PORT_OK/v1"
verify "$URL" --param escalate_endpoint=sim --param 'escalate_band=[0,0.99]' <"$TMP/in.jsonl" \
    >"$TMP/out.jsonl"
check "a score in the band is the judge's, one outside is the rule's; both are kept" "
assert len(rows) == 2, rows
mid, exact = rows
assert 'error' not in mid, mid.get('error')
assert mid['decided_by'] == 'judge', mid
assert 0 < mid['rule']['score'] < 0.8 and mid['rule']['correct'] is False, mid['rule']
j = mid['judge']
assert mid['score'] == j['score'] and j['score'] <= 0.4, j
assert mid['correct'] is False
assert j['endpoint'] == 'sim' and len(j['cache_key']) == 64 and j['cached'] is False, j
assert j['comment'], j
assert exact['decided_by'] == 'rule' and exact['score'] >= 0.99 and exact['correct'] is True, exact
assert 'judge' not in exact, exact
" <"$TMP/out.jsonl"
calls=$(sim_stat OK requests)

# the judged answer holding the gold: the judge accepts it
printf '%s\n' '{"id":"holds","kind":"case","answer":"细菌性肺炎","sample":{"answer":"细菌性肺炎可能，左下肺"}}' |
    verify "$URL" --param escalate_endpoint=sim --param 'escalate_band=[0,1]' |
    check "the judge can accept what the rule doubted" "
r = rows[0]
assert r['decided_by'] == 'judge' and r['judge']['score'] >= 0.7 and r['correct'] is True, r
"

# a cached judgment is reused: no call, even with the endpoint gone
$PY - "$TMP/out.jsonl" >"$TMP/cached.jsonl" <<'PY'
import json, sys
mid = json.loads(open(sys.argv[1]).readline())
item = {k: mid[k] for k in ("id", "kind", "answer", "sample")}
item["cached_judge"] = mid["judge"]
print(json.dumps(item, ensure_ascii=False))
PY
calls_before=$(sim_stat OK requests)
verify "$URL" --param escalate_endpoint=sim --param 'escalate_band=[0,0.99]' <"$TMP/cached.jsonl" |
    check "a cached judgment with the same key is reused" "
r = rows[0]
assert r['decided_by'] == 'judge' and r['judge']['cached'] is True, r
assert r['score'] == r['judge']['score'], r
"
expect "no model call for a cached judgment" test "$(sim_stat OK requests)" = "$calls_before"
expect "the first run called the judge once" test "$calls" -ge 1

# the same check twice in one process: the second judgment is the process's cached one
calls_before=$(sim_stat OK requests)
{ head -n 1 "$TMP/in.jsonl"; head -n 1 "$TMP/in.jsonl"; } |
    verify "$URL" --param escalate_endpoint=sim --param 'escalate_band=[0,0.99]' --concurrency 1 |
    check "a judgment this process received is reused" "
a, b = rows
assert a['judge']['cached'] is False and b['judge']['cached'] is True, (a['judge'], b['judge'])
assert a['judge']['cache_key'] == b['judge']['cache_key'] and a['score'] == b['score'], (a, b)
"
expect "one model call for two identical checks" test "$(sim_stat OK requests)" = "$((calls_before + 1))"

# an unreachable judge: the rule decides, the reason is kept, the task succeeds
verify "http://127.0.0.1:9/v1" --param escalate_endpoint=sim --param 'escalate_band=[0,0.99]' \
    < <(head -n 1 "$TMP/in.jsonl") |
    check "an unreachable judge leaves the rule's result" "
r = rows[0]
assert 'error' not in r, r
assert r['decided_by'] == 'rule' and r['judge_error'], r
assert r['score'] == r['rule']['score'], r
"

# a malformed band is refused by `assay run` before any line (its params are
# checked against the kind's declaration, as a spec's are at submit)
: >"$TMP/run.err"
verify "$URL" --param escalate_endpoint=sim --param 'escalate_band=[0.9,0.1]' < <(head -n 1 "$TMP/in.jsonl") |
    check "a malformed band given to assay run is refused, naming the parameter" "
assert rows == [], rows
err = open('$TMP/run.err').read()
assert 'escalate_band' in err and 'low <= high' in err, err
"
finish
