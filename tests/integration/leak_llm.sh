#!/usr/bin/env bash
# leak_llm.sh: the optional LLM pass of leak_removal through `assay run` against a
# real assay-simllm (rules 11 and 12 of ops/simllm/sim_answer.h): a rewrite that
# is accepted, rewrites rejected because they leak or are implausibly short, the
# leak judge clearing and flagging cases, a judge that never gives a verdict,
# transient errors retried, a 429 and an unknown endpoint.
# timeout: 120
source "$(dirname "$0")/llm_lib.bash"

ASSAY=$BUILD/bin/assay
TERMS=$SRC/ops/sample/terms
export ASSAY_CONFIG=/dev/null ASSAY_ENDPOINT_SIM_MODEL=sim-r1 ASSAY_ENDPOINT_SIM_STYLE=r1 \
       ASSAY_ENDPOINT_SIM_PRICE_IN_PER_MTOK=1 ASSAY_ENDPOINT_SIM_PRICE_OUT_PER_MTOK=4

start_sim A
start_sim F --fault-500 1 --fault-limit 2
start_sim R --fault-429 1
export ASSAY_ENDPOINT_SIM_BASE_URL=http://127.0.0.1:$PORT_A/v1
export ASSAY_ENDPOINT_FLAKY_BASE_URL=http://127.0.0.1:$PORT_F/v1 ASSAY_ENDPOINT_FLAKY_MODEL=sim-r1
export ASSAY_ENDPOINT_BUSY_BASE_URL=http://127.0.0.1:$PORT_R/v1 ASSAY_ENDPOINT_BUSY_MODEL=sim-r1

# templates for the tests, beside copies of the shipped ones: a rewrite prompt
# whose "补充：" line makes the simulated model add a sentence, a judge told to look
# for another phrase, and a "judge" prompt that does not ask for JSON
P=$TMP/prompts
mkdir -p "$P"
cp "$SRC"/ops/prompts/leak_*.txt "$P"/
sed 's/^# version: 1$/# version: 1\n# test: the simulated model adds the line after 补充：/' \
    "$SRC/ops/prompts/leak_rewrite.txt" > "$P/rewrite_adds.txt"
printf '补充：{{hint}}\n' >> "$P/rewrite_adds.txt"
sed 's/^诊断：{{answer}}$/诊断：{{probe}}/' "$SRC/ops/prompts/leak_judge.txt" > "$P/judge_probe.txt"
grep -q '{{probe}}' "$P/judge_probe.txt" || { echo "judge_probe.txt not made" >&2; exit 1; }
printf '# vague_judge: asks without naming the reply format\n# version: 1\n@user\n请判断下面的病历是否泄露诊断。\n{{text}}\n' \
    > "$P/vague_judge.txt"

run() { "$ASSAY" run leak_removal --terms "$TERMS" --param prompts_dir="$P" "$@"; }
# a run whose lines are expected to fail (exit 1): the error fields are checked
run_failing() { run "$@" 2>/dev/null || true; }

head -n 3 "$SRC/ops/sample/cases.jsonl" > "$TMP/cases.jsonl"
run < "$TMP/cases.jsonl" > "$TMP/plain.jsonl"

# 1. accepted: the simulated model echoes the text without the 【删】 line
CASE='{"id":"m1","text":"主诉：转移性右下腹痛1天。\n现病史：患者女，78岁，脐周疼痛后转移至右下腹，伴恶心。\n【删】患者自述近来睡眠欠佳。\n体格检查：T 36.8℃，右下腹麦氏点压痛、反跳痛。\n辅助检查：血白细胞12.5×10^9/L。\n入院诊断：急性阑尾炎\n诊疗经过：予阑尾切除术。","diagnosis":"急性阑尾炎"}'
{ cat "$TMP/cases.jsonl"; echo "$CASE"; } | run --param rewrite_endpoint=sim |
    check "rewrite accepted: clean_text and question from the rewrite, metadata recorded" "
plain = [json.loads(l) for l in open('$TMP/plain.jsonl')]
assert len(rows) == 4
for r, p in zip(rows[:3], plain):
    assert 'rewrite_rejected' not in r, r.get('rewrite_rejected')
    assert r['clean_text'] == p['clean_text']          # the echo is the same text
m = rows[3]
assert 'rewrite_rejected' not in m, m['rewrite_rejected']
assert '【删】' not in m['clean_text'] and '睡眠欠佳' not in m['clean_text'], m['clean_text']
assert '麦氏点压痛' in m['clean_text'] and '急性阑尾炎' not in m['clean_text']
assert m['clean_text'] in m['question'] and '睡眠欠佳' not in m['question']
w = m['rewrite']
assert w['endpoint'] == 'sim' and w['model'] == 'sim-r1' and w['template'] == 'leak_rewrite'
assert w['template_version'] == 1 and len(w['template_hash']) == 64
assert w['prompt_tokens'] > 0 and w['completion_tokens'] > 0 and w['cost'] > 0
assert w['attempts'] == 1 and abs(m['llm_cost'] - w['cost']) < 1e-12
assert m['residual_flagged'] is False and m['removed'], m
"

# 2. rejected: the rewrite adds the diagnosis (or an alias); rejected: too short
LEAKY='{"id":"m2","text":"主诉：转移性右下腹痛1天。\n体格检查：右下腹麦氏点压痛、反跳痛。\n入院诊断：急性阑尾炎","diagnosis":"急性阑尾炎","hint":"结合病史，考虑急性阑尾炎。"}'
SHORT='{"id":"m3","text":"主诉：转移性右下腹痛1天。\n【删】现病史：患者女，78岁，脐周疼痛后转移至右下腹，伴恶心，无呕吐，无腹泻。\n【删】既往史：否认肝炎、结核等传染病史，否认药物过敏史。\n【删】体格检查：T 36.8℃，P 71次/分，右下腹麦氏点压痛、反跳痛。\n入院诊断：急性阑尾炎","diagnosis":"急性阑尾炎","hint":""}'
printf '%s\n%s\n' "$LEAKY" "$SHORT" |
    run --param rewrite_endpoint=sim --param rewrite_template=rewrite_adds > "$TMP/rej.jsonl"
printf '%s\n%s\n' "$LEAKY" "$SHORT" | run > "$TMP/plain2.jsonl"
check "rewrite rejected (leak, too short): the deterministic text is kept, with the reason" "
plain = [json.loads(l) for l in open('$TMP/plain2.jsonl')]
leaky, short = rows
assert 'rewrite' not in leaky and 'rewrite' not in short
assert 'leaks the diagnosis' in leaky['rewrite_rejected'] and '急性阑尾炎' in leaky['rewrite_rejected'], leaky['rewrite_rejected']
assert leaky['clean_text'] == plain[0]['clean_text'] and '急性阑尾炎' not in leaky['clean_text']
assert leaky['residual_flagged'] is False and leaky['llm_cost'] > 0
assert 'characters' in short['rewrite_rejected'] and 'expected 0.50 to 1.50' in short['rewrite_rejected'], short['rewrite_rejected']
assert short['clean_text'] == plain[1]['clean_text'] and '【删】' in short['clean_text']
" < "$TMP/rej.jsonl"

# 3. the judge: clears the sample cases, flags a case where it finds the phrase
run --param judge_endpoint=sim < "$TMP/cases.jsonl" |
    check "judge clears cleaned cases (leak false, not flagged)" "
assert len(rows) == 3
for r in rows:
    j = r['llm_leak_check']
    assert j['leak'] is False and '需要推理' in j['reason'], j
    assert j['template'] == 'leak_judge' and j['attempts'] == 1 and j['cost'] > 0
    assert r['residual_flagged'] is False and 'rewrite' not in r
"
PROBE='{"id":"m4","text":"主诉：转移性右下腹痛1天。\n体格检查：右下腹麦氏点压痛、反跳痛。\n入院诊断：急性阑尾炎","diagnosis":"急性阑尾炎","probe":"麦氏点压痛"}'
echo "$PROBE" | run --param judge_endpoint=sim --param judge_template=judge_probe |
    check "judge says leak: residual_flagged although the residual check found nothing" "
r = rows[0]
assert r['residual_hits'] == [] and r['residual_leak'] == 0
assert r['llm_leak_check']['leak'] is True and '麦氏点压痛' in r['llm_leak_check']['reason']
assert r['residual_flagged'] is True
"
set +e
echo "$PROBE" | run --param judge_endpoint=sim --param judge_template=judge_probe \
    --param fail_on_leak=true > "$TMP/fol.jsonl" 2> "$TMP/fol.err"
rc=$?
set -e
expect "judge leak + fail_on_leak: the line fails (exit 1) naming the judge's reason" \
    bash -c "[ $rc = 1 ] && grep -q 'still names the diagnosis: 题干中直接出现了“麦氏点压痛”' '$TMP/fol.err'"

# 4. a judge that never answers with a verdict: asked max_attempts times, then a
#    permanent failure that says why
before=$(sim_stat A requests)
set +e
head -n 1 "$TMP/cases.jsonl" | run --param judge_endpoint=sim --param judge_template=vague_judge \
    > "$TMP/garb.jsonl" 2> "$TMP/garb.err"
rc=$?
set -e
after=$(sim_stat A requests)
expect "judge garbage: exit 1 after 3 requests" bash -c "[ $rc = 1 ] && [ $((after - before)) = 3 ]"
check "judge garbage: a clear reason in the error field" "
e = rows[0]['error']
assert e['retryable'] is False, e
assert 'leak judge (endpoint \"sim\") gave no usable reply in 3 attempts' in e['reason'], e
assert 'neither JSON' in e['reason'], e
" < "$TMP/garb.jsonl"
head -n 1 "$TMP/cases.jsonl" | run_failing --param judge_endpoint=sim --param judge_template=vague_judge \
    --param max_attempts=1 | check "max_attempts=1: one attempt" "
assert 'in 1 attempts' in rows[0]['error']['reason'], rows[0]['error']
"

# a streaming endpoint works the same
ASSAY_ENDPOINT_SIM_STREAM=1 run --param rewrite_endpoint=sim --param judge_endpoint=sim \
    < "$TMP/cases.jsonl" | check "streamed replies: rewrite accepted, judge verdict read" "
plain = [json.loads(l) for l in open('$TMP/plain.jsonl')]
for r, p in zip(rows, plain):
    assert r['clean_text'] == p['clean_text'] and r['rewrite']['attempts'] == 1, r
    assert r['llm_leak_check']['leak'] is False
"

# 5. endpoint faults: two 500s retried with backoff, 500s beyond max_attempts, a
#    429, an unknown endpoint
head -n 1 "$TMP/cases.jsonl" | run --param rewrite_endpoint=flaky |
    check "two 500s then success: rewrite accepted on attempt 3" "
assert rows[0]['rewrite']['attempts'] == 3, rows[0]
"
start_sim G --fault-500 1
export ASSAY_ENDPOINT_DOWN_BASE_URL=http://127.0.0.1:$PORT_G/v1 ASSAY_ENDPOINT_DOWN_MODEL=sim-r1
head -n 1 "$TMP/cases.jsonl" | run_failing --param rewrite_endpoint=down --param max_attempts=2 |
    check "500s beyond max_attempts: the task fails as retryable" "
e = rows[0]['error']
assert e['retryable'] is True and 'rewrite (endpoint \"down\") gave no usable reply in 2 attempts' in e['reason'], e
"
head -n 1 "$TMP/cases.jsonl" | run_failing --param judge_endpoint=busy |
    check "429: the task fails as retryable (rate limited)" "
e = rows[0]['error']
assert 'HTTP 429' in e['reason'] and e['retryable'] is True, e
"
head -n 1 "$TMP/cases.jsonl" | run_failing --param rewrite_endpoint=nosuch |
    check "unknown endpoint: a clear error naming the parameter" "
e = rows[0]['error']
assert 'rewrite_endpoint' in e['reason'] and 'nosuch' in e['reason'] and not e['retryable'], e
"

finish
