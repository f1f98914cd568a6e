#!/usr/bin/env bash
# simllm_answer_key: without --answer-key assay-simllm says at start (even with
# --quiet) and in --help that its gold answers are invented, so pass rates mean
# nothing; with one it says how many questions the key holds. An items file is its
# own key: "diagnosis" and "reference_answer" stand for "answer", and items whose
# answer is null are skipped. Answers then aim at the key's gold.
# timeout: 60
source "$(dirname "$0")/llm_lib.bash"

fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1" >&2; fails=$((fails + 1)); }

# --- no key: a warning at start, with and without --quiet ----------------------------
start_sim NOKEY # with --quiet
for _ in $(seq 1 20); do grep -q warning "$TMP/sim.NOKEY.log" && break; sleep 0.05; done
if grep -q "warning: no --answer-key.*pass rates against real items are meaningless" \
    "$TMP/sim.NOKEY.log"; then ok "no key: warning at start, even with --quiet"; else
  bad "no key: no warning in: $(cat "$TMP/sim.NOKEY.log")"; fi
help=$("$SIMLLM" --help | tr '\n' ' ')
grep -q "WITHOUT IT the gold is *invented" <<<"$help" &&
  ok "--help says what happens without a key" || bad "--help says nothing about a missing key"

# --- an items file as its key: synonyms, null answers skipped ---------------------------
cat >"$TMP/items.jsonl" <<'JSON'
{"id": "k1", "question": "患者胸痛3小时，心电图ST段抬高，最可能的诊断是", "options": {"A": "心绞痛", "B": "急性心肌梗死", "C": "主动脉夹层", "D": "肺栓塞"}, "answer": "D", "accuracy": 1}
{"id": "k2", "text": "病例：发热、咳嗽、右下肺湿啰音。", "diagnosis": "社区获得性肺炎", "accuracy": 1}
{"id": "k3", "question": "感冒了怎么办？", "reference_answer": null}
JSON
"$SIMLLM" --listen 127.0.0.1:0 --port-file "$TMP/port.KEY" --answer-key "$TMP/items.jsonl" \
  2>"$TMP/sim.KEY.log" &
SIM_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$TMP/port.KEY" ] && break; sleep 0.05; done
PORT_KEY=$(cat "$TMP/port.KEY")
grep -q "answer key: 2 questions, 1 without an answer" "$TMP/sim.KEY.log" &&
  ok "key: 2 questions loaded, the null answer skipped" || bad "key: $(cat "$TMP/sim.KEY.log")"
grep -q "warning: no --answer-key" "$TMP/sim.KEY.log" && bad "warning despite a key" ||
  ok "no warning with a key"

ask() { # ask PROMPT: the answer text of one completion
  $PY - "$1" <<'PY' | curl -s "http://127.0.0.1:$PORT_KEY/v1/chat/completions" -d @- |
import json, sys
print(json.dumps({"model": "sim-r1", "temperature": 0,
                  "messages": [{"role": "user", "content": sys.argv[1]}]}))
PY
    $PY -c "import json, sys; print(json.load(sys.stdin)['choices'][0]['message']['content'])"
}
mcq=$(ask "$(printf '<question>患者胸痛3小时，心电图ST段抬高，最可能的诊断是</question>\nA. 心绞痛\nB. 急性心肌梗死\nC. 主动脉夹层\nD. 肺栓塞')")
case "$mcq" in *"答案：D"*) ok "MCQ answer follows the key (D)" ;; *) bad "MCQ answer: $mcq" ;; esac
dx=$(ask '<question id="k2">病例：发热、咳嗽、右下肺湿啰音。</question>')
case "$dx" in *"社区获得性肺炎"*) ok "case answer follows the key's diagnosis" ;;
  *) bad "case answer: $dx" ;; esac

# --- a broken key is refused with file, line and field ------------------------------------
echo '{"id": "x", "answer": 3}' >"$TMP/bad.jsonl"
if out=$("$SIMLLM" --answer-key "$TMP/bad.jsonl" 2>&1); then bad "bad key accepted"; else
  case "$out" in *"bad.jsonl:1: missing string field \"answer\""*) ok "bad key: $out" ;;
    *) bad "bad key message: $out" ;; esac
fi

[ "$fails" = 0 ] || exit 1
echo "PASS simllm_answer_key"
