#!/usr/bin/env bash
# llm_parse.sh: the generate task against assay-simllm over real HTTP: R1-style
# (reasoning_content and reasoning), o3-style (hidden reasoning, reasoning_effort),
# <think> tags with and without the opening tag, streaming, n samples, the
# documented accuracy rule, failure styles and judge answers.
# timeout: 180
source "$(dirname "$0")/llm_lib.bash"

start_sim A --latency-ms 20
start_sim NON --latency-ms 20 --no-n
mcq_items 3 > "$TMP/mcq.jsonl"

STEPS='
import re
def steps_ok(r):
    return all(k in r for k in ("首先，", "回忆相关知识：", "等等，让我再核对一下", "因此，"))
'

for stream in false true; do
    for model in r1 r1r; do
        gen A -c endpoint.sim.model=sim-$model -c endpoint.sim.style=r1 -p n=2 -p seed=7 \
            -p stream=$stream < "$TMP/mcq.jsonl" |
            check "R1-style $model (stream=$stream): reasoning field split from the answer" "$STEPS
assert len(rows) == 3
for row in rows:
    for s in row['output']['samples']:
        assert s['reasoning_source'] == 'field', s['reasoning_source']
        assert steps_ok(s['reasoning']), s['reasoning']
        assert re.search('答案：[A-E]\$', s['answer']), s['answer']
        assert '首先' not in s['answer']
        assert s['reasoning_tokens'] > 0 and s['completion_tokens'] > s['reasoning_tokens']
        assert s['prompt_tokens'] > 0 and s['cost'] == 0
        assert s['template'] == 'answer_mcq' and len(s['template_hash']) == 64
        assert s['finish_reason'] == 'stop'
"
    done
    for model in think think-open; do
        gen A -c endpoint.sim.model=sim-$model -p n=2 -p seed=7 -p stream=$stream < "$TMP/mcq.jsonl" |
            check "<think> tags ($model, stream=$stream): reasoning split from the content" "$STEPS
for row in rows:
    for s in row['output']['samples']:
        assert s['reasoning_source'] == 'think_tags', s
        assert steps_ok(s['reasoning'])
        assert '<think>' not in s['reasoning'] and '</think>' not in s['answer'], s
        assert re.search('答案：[A-E]\$', s['answer']), s['answer']
        assert 'think' not in s['raw'] or '</think>' in s['raw']
"
    done
    gen A -c endpoint.sim.model=sim-o3 -c endpoint.sim.style=o3 -p n=2 -p seed=7 \
        -p stream=$stream -p reasoning_effort=low < "$TMP/mcq.jsonl" > "$TMP/o3low.jsonl"
    gen A -c endpoint.sim.model=sim-o3 -c endpoint.sim.style=o3 -p n=2 -p seed=7 \
        -p stream=$stream -p reasoning_effort=high < "$TMP/mcq.jsonl" > "$TMP/o3high.jsonl"
    cat "$TMP/o3low.jsonl" "$TMP/o3high.jsonl" |
        check "o3-style (stream=$stream): hidden reasoning counted, effort matters" "
low, high = rows[:3], rows[3:]
for a, b in zip(low, high):
    for s, t in zip(a['output']['samples'], b['output']['samples']):
        assert s['reasoning'] == '' and s['reasoning_source'] == 'hidden', s
        assert s['reasoning_tokens'] > 0
        assert t['reasoning_tokens'] > s['reasoning_tokens'] * 3, (s['reasoning_tokens'], t['reasoning_tokens'])
        assert s['answer'] == t['answer'], (s['answer'], t['answer'])  # same seed: effort changes tokens only
        assert '答案：' in s['answer']
"
done

# max_tokens cuts R1 reasoning: finish_reason length, no answer, reasoning kept
gen A -c endpoint.sim.model=sim-think-open -p max_tokens=20 < "$TMP/mcq.jsonl" |
    check "max_tokens inside <think>: finish_reason=length, empty answer" "
for row in rows:
    s = row['output']['samples'][0]
    assert s['finish_reason'] == 'length' and s['answer'] == '' and len(s['reasoning']) > 0, s
"

# n samples: one request when the endpoint supports n, n requests when not, and
# a server that ignores n is asked again for the missing choices
mcq_items 1 > "$TMP/one.jsonl"
gen A -c endpoint.sim.model=sim-r1 -c endpoint.sim.supports_n=1 -p n=5 -p seed=1 < "$TMP/one.jsonl" |
    check "n=5 with supports_n: one request, five samples" "
o = rows[0]['output']
assert o['requests'] == 1 and len(o['samples']) == 5, o['requests']
assert [s['index'] for s in o['samples']] == [0, 1, 2, 3, 4]
assert len({s['cache_key'] for s in o['samples']}) == 5
"
gen A -c endpoint.sim.model=sim-r1 -p n=5 -p seed=1 < "$TMP/one.jsonl" |
    check "n=5 without supports_n: five requests" "
o = rows[0]['output']
assert o['requests'] == 5 and len(o['samples']) == 5, o['requests']
"
gen NON -c endpoint.sim.model=sim-r1 -c endpoint.sim.supports_n=1 -p n=3 -p seed=1 < "$TMP/one.jsonl" |
    check "a server that ignores n: missing choices requested again" "
o = rows[0]['output']
assert len(o['samples']) == 3 and o['requests'] == 3, o
"

# the documented accuracy rule: with an answer key (accuracy 1 and 0) and derived
mcq_items 3 > "$TMP/acc.jsonl"
$PY - "$TMP/acc.jsonl" "$TMP/key.jsonl" <<'PYEOF'
import json, sys
items = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    f.write(json.dumps({"question": items[0]["question"], "answer": items[0]["answer"], "accuracy": 1.0}, ensure_ascii=False) + "\n")
    f.write(json.dumps({"question": items[1]["question"], "answer": items[1]["answer"], "accuracy": 0.0}, ensure_ascii=False) + "\n")
PYEOF
start_sim KEY --answer-key "$TMP/key.jsonl"
gen KEY -c endpoint.sim.model=sim-r1 -p n=30 -p seed=100 < "$TMP/acc.jsonl" > "$TMP/acc.out"
paste -d'\n' "$TMP/acc.jsonl" "$TMP/acc.out" |
    check "answer key and derived accuracy follow the documented rule exactly" "
import hashlib, re
def H(s):
    return int(hashlib.sha256(s.encode()).hexdigest()[:8], 16) / 2**32
items, outs = rows[0::2], rows[1::2]
def letters(o): return [re.search('答案：([A-J]+)', s['answer']).group(1) for s in o['output']['samples']]
assert letters(outs[0]) == [items[0]['answer']] * 30, letters(outs[0])
assert items[1]['answer'] not in letters(outs[1])
q = items[2]['question'].strip()
a = H('accuracy:' + q)
opts = sorted(items[2]['options'])
gold = opts[int(H('gold:' + q) * len(opts))]
got = letters(outs[2])
for i, l in enumerate(got):
    correct = H('draw:%s:%d:0' % (q, 100 + i)) < a
    assert (l == gold) == correct, (i, l, gold, a)
print('accuracy', a, 'pass rate', sum(l == gold for l in got) / 30.0)
"

# failure styles forced through the model name
gen A -c endpoint.sim.model=sim-r1+no_reasoning < "$TMP/one.jsonl" |
    check "failure style no_reasoning" "
s = rows[0]['output']['samples'][0]
assert s['reasoning'] == '' and s['reasoning_source'] == 'none' and s['answer'].startswith('答案：'), s
"
gen A -c endpoint.sim.model=sim-r1+repeat < "$TMP/one.jsonl" |
    check "failure style repeat" "
import re
s = rows[0]['output']['samples'][0]
assert len(re.findall('因此，答案是', s['reasoning'])) >= 5, s['reasoning']
"
printf '{"id":"c1","text":"患者，男，49岁，右下腹痛3小时，右下腹可触及包块。"}\n' > "$TMP/case.jsonl"
gen A -c endpoint.sim.model=sim-r1+fake_disease < "$TMP/case.jsonl" |
    check "failure style fake_disease on a case" "
s = rows[0]['output']['samples'][0]
fakes = ['克氏-莫兰综合征', '肺泡晶体沉积症Ⅳ型', '迟发性胰岛钙化综合征', '双相肝门扭转症', '游走性心包结晶病']
assert s['template'] == 'answer_case'
assert any(f in s['answer'] for f in fakes), s['answer']
"

# judge prompts get parseable scores
curl -s "http://127.0.0.1:$PORT_A/v1/chat/completions" -H 'Content-Type: application/json' -d '{
  "model": "sim-plain", "messages": [{"role": "system", "content": "你是医学评审。只输出 JSON：{\"score\": 0到1, \"correctness\": 0到1, \"helpfulness\": 0到1, \"comment\": \"...\"}"},
  {"role": "user", "content": "问题：嘶哑样咳嗽，可见于\n标准答案：A\n待评答案：A"}]}' |
    check "judge prompt answered with a JSON score" "
c = json.loads(rows[0]['choices'][0]['message']['content'])
assert 0.7 <= c['score'] <= 1.0 and 0 <= c['correctness'] <= 1 and 'helpfulness' in c and c['comment'], c
"
curl -s "http://127.0.0.1:$PORT_A/v1/models" |
    check "GET /v1/models lists the modes" "
ids = [m['id'] for m in rows[0]['data']]
assert 'sim-r1' in ids and 'sim-o3' in ids and 'sim-think' in ids, ids
"
# proxies come from the standard environment variables (libcurl reads them):
# nothing listens on localhost:1, so only the proxy (simllm) can answer
http_proxy="http://127.0.0.1:$PORT_A" "$GEN" -c endpoint.sim.base_url=http://localhost:1/v1 \
    -c endpoint.sim.model=sim-r1 < "$TMP/one.jsonl" |
    check "http_proxy from the environment is used" "
assert rows[0]['output']['samples'][0]['reasoning'], rows
"
no_proxy=localhost http_proxy="http://127.0.0.1:$PORT_A" "$GEN" -c endpoint.sim.base_url=http://localhost:1/v1 \
    -c endpoint.sim.model=sim-r1 -p max_attempts=1 < "$TMP/one.jsonl" |
    check "no_proxy bypasses it" "
assert rows[0]['error']['retryable'] and 'transport' in rows[0]['error']['reason'], rows
"
finish
