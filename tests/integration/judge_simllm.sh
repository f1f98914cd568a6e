#!/usr/bin/env bash
# judge_simllm.sh: the judge task against a real assay-simllm through `assay run
# judge`. Every judge (outcome, process, consistency, preference) renders its
# template, and the scores follow simllm's judge rule: a sample whose answer holds
# the gold answer scores >= 0.7, another <= 0.4, with the template's dimensions.
# Replies that cannot be read (garbage bodies, replies without a score) fail the
# task permanently as "judge reply unparseable" and never carry a score; a 429 is
# reported as a rate limit; an outcome judge without a gold answer is refused.
# timeout: 120
source "$(dirname "$0")/llm_lib.bash"
ASSAY=$BUILD/bin/assay
export ASSAY_CONFIG=/dev/null ASSAY_ENDPOINT_SIM_MODEL=sim-r1

# judge NAME [assay run args...] < lines: `assay run judge` against sim NAME
judge() {
    local port_var="PORT_$1"
    shift
    ASSAY_ENDPOINT_SIM_BASE_URL="http://127.0.0.1:${!port_var}/v1" \
        "$ASSAY" run judge "$@" 2>>"$TMP/run.err" || true
}

# items of the project's own sample data (questions, case records, open questions),
# each twice: a sample whose answer holds
# the gold answer (want "hi") and one whose answer does not (want "lo")
$PY - "$SRC/ops/sample" >"$TMP/samples.jsonl" <<'PY'
import json, sys
d = sys.argv[1]
mcq = [json.loads(l) for l in open(d + "/exam_mcq.jsonl")][:4]
open_q = [json.loads(l) for l in open(d + "/health_questions.jsonl")]
open_q = [q for q in open_q if q.get("reference_answer")][:3]
for q in mcq:
    wrong = next(k for k in sorted(q["options"]) if k != q["answer"])
    for want, letter in (("hi", q["answer"]), ("lo", wrong)):
        r = dict(q, want=want, sample={"answer": "答案：" + letter,
                 "reasoning": "首先，分析题干。因此，选" + letter + "。"})
        print(json.dumps(r, ensure_ascii=False))
cases = [json.loads(l) for l in open(d + "/cases.jsonl")][:2]
for c in cases:  # case records: the gold is the diagnosis
    for want, ans in (("hi", "诊断：" + c["diagnosis"]), ("lo", "诊断：不存在的病")):
        print(json.dumps(dict(c, want=want, sample={"answer": ans, "reasoning": "首先，分析病史。"}),
                         ensure_ascii=False))
for q in open_q:
    for want, ans in (("hi", "回答：" + q["reference_answer"] + "另外注意休息。"),
                      ("lo", "回答：多喝热水即可。")):
        print(json.dumps(dict(q, want=want, sample={"answer": ans}), ensure_ascii=False))
PY
lines=$(wc -l <"$TMP/samples.jsonl")

start_sim OK --mode r1
declare -A DIMS=(
    [outcome]="correctness comprehensiveness"
    [process]="logic correctness comprehensiveness"
    [consistency]="consistency logic"
    [preference]="correctness helpfulness comprehensiveness harmlessness relevance logic")
for j in outcome process consistency preference; do
    judge OK --param judge=$j <"$TMP/samples.jsonl" |
        check "$j judge: scores follow the gold ($lines samples), dimensions ${DIMS[$j]}" "
assert len(rows) == $lines, len(rows)
for r in rows:
    assert 'error' not in r, r.get('error')
    assert r['scorer'] == '$j' and r['judge'] == '$j', r['scorer']
    s = r['score']
    assert 0 <= s <= 1, s
    if r['want'] == 'hi':
        assert s >= 0.7, (r['id'], s, r['comment'])
    else:
        assert s <= 0.4, (r['id'], s, r['comment'])
    assert sorted(r['dimensions']) == sorted('${DIMS[$j]}'.split()), r['dimensions']
    assert all(0 <= v <= 1 for v in r['dimensions'].values()), r['dimensions']
    assert r['comment'], r
    assert r['template'] == 'judge_$j' and r['template_version'] >= 1, r['template']
    assert len(r['template_hash']) == 64, r['template_hash']
    assert r['judge_model'] and r['endpoint'] == 'sim' and r['attempts'] == 1, r
    assert r['parse'] == 'json' and r['prompt_tokens'] > 0 and r['completion_tokens'] > 0, r
"
done

# a different scorer name for a second judge of the same kind
head -n 1 "$TMP/samples.jsonl" | judge OK --param judge=outcome --param scorer=outcome_b |
    check "scorer parameter names the score" "
assert rows[0]['scorer'] == 'outcome_b' and rows[0]['judge'] == 'outcome', rows[0]
"

# an open question without a reference: preference still scores, outcome refuses
printf '%s\n' '{"id":"x","question":"感冒了怎么办？","sample":{"answer":"回答：多休息，多饮水。"}}' \
    >"$TMP/nogold.jsonl"
judge OK --param judge=preference <"$TMP/nogold.jsonl" |
    check "preference judge without a reference answer scores" "
assert 0 <= rows[0]['score'] <= 1 and len(rows[0]['dimensions']) == 6, rows[0]
"
judge OK --param judge=outcome <"$TMP/nogold.jsonl" |
    check "outcome judge without a gold answer: permanent failure, no score" "
e = rows[0]['error']
assert not e['retryable'] and 'gold answer' in e['reason'], e
assert 'score' not in rows[0], rows[0]
"
judge OK --param judge=verdict <"$TMP/nogold.jsonl" |
    check "unknown judge name: permanent failure naming the choices" "
e = rows[0]['error']
assert not e['retryable'] and 'outcome, process, consistency or preference' in e['reason'], e
"

# every reply garbage: re-asked max_attempts times, then unparseable, never a score
start_sim GARBAGE --mode r1 --fault-garbage 1.0
head -n 3 "$TMP/samples.jsonl" | judge GARBAGE --param judge=outcome --param max_attempts=2 |
    check "garbage replies: permanent 'judge reply unparseable', no score" "
assert len(rows) == 3
for r in rows:
    e = r['error']
    assert e['reason'].startswith('judge reply unparseable: '), e
    assert not e['retryable'], e
    assert 'score' not in r and 'scorer' not in r, r
"
expect "garbage replies asked for max_attempts times each" test "$(sim_stat GARBAGE requests)" -eq 6

# well-formed replies without a score (a template that asks for none)
mkdir -p "$TMP/prompts"
cat >"$TMP/prompts/judge_noscore.txt" <<'EOF'
# judge_noscore: a judge template that asks for no score (the reply cannot be read)
# version: 1
@user
<question>{{question}}</question>
请评价这个回答：{{sample.answer}}
EOF
head -n 1 "$TMP/samples.jsonl" |
    judge OK --param template=judge_noscore --param "prompts_dir=$TMP/prompts" --param max_attempts=1 |
    check "a reply without a score, no attempt left: permanent 'judge reply unparseable'" "
e = rows[0]['error']
assert e['reason'].startswith('judge reply unparseable: no JSON object'), e
assert '(1 attempt)' in e['reason'] and not e['retryable'], e
assert 'score' not in rows[0], rows[0]
"
# the re-ask shows the judge its reply and asks for the JSON format again
head -n 1 "$TMP/samples.jsonl" |
    judge OK --param template=judge_noscore --param "prompts_dir=$TMP/prompts" --param max_attempts=2 |
    check "a reply without a score is asked again with the format: scored at attempt 2" "
r = rows[0]
assert 'error' not in r, r['error']
assert r['attempts'] == 2 and r['parse'] == 'json' and 0 <= r['score'] <= 1, r
assert r['template'] == 'judge_noscore', r
"

# 429: a rate limit for the broker, not a judge failure
start_sim R429 --mode r1 --fault-429 1 --retry-after 2
head -n 1 "$TMP/samples.jsonl" | judge R429 --param judge=outcome |
    check "429: rate-limited failure carrying the wait" "
e = rows[0]['error']
assert e['retryable'] and 'HTTP 429' in e['reason'], e
assert 'retry after 2000 ms' in e['reason'] and 'unparseable' not in e['reason'], e
"
expect "no retry after a 429" test "$(sim_stat R429 requests)" -eq 1

# with a sanitizer build, `assay run` reports leaks and errors on stderr
expect "no sanitizer reports from assay run" \
    bash -c "! grep -qE 'Sanitizer|runtime error' '$TMP/run.err'"

finish
