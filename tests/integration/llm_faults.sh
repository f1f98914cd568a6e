#!/usr/bin/env bash
# llm_faults.sh: every fault assay-simllm injects, handled by the generate task
# as specified: retried (and then succeeding) or failed with the right class and
# a clear reason; 429s reported as rate limits with the server's wait; API keys
# never leak into reasons.
# timeout: 180
source "$(dirname "$0")/llm_lib.bash"

mcq_items 1 > "$TMP/one.jsonl"
M=(-c endpoint.sim.model=sim-r1 -c endpoint.sim.first_byte_timeout_ms=400
   -c endpoint.sim.total_timeout_ms=8000)

# --- 429 ---------------------------------------------------------------------------
start_sim R429 --fault-429 1 --retry-after 2
gen R429 "${M[@]}" -p n=3 < "$TMP/one.jsonl" |
    check "429 with Retry-After: rate-limited failure carrying the wait" "
e = rows[0]['error']
assert e['ratelimited'] and e['retryable'] and e['endpoint'] == 'sim', e
assert e['retry_after_ms'] == 2000, e
assert 'HTTP 429' in e['reason'], e
"
expect "no retry storm after a 429" test "$(sim_stat R429 requests)" -le 3
start_sim XRL --fault-429 1 --xratelimit --retry-after 3
gen XRL "${M[@]}" < "$TMP/one.jsonl" |
    check "429 with x-ratelimit-* headers: wait from x-ratelimit-reset-requests" "
e = rows[0]['error']
assert e['ratelimited'] and e['retry_after_ms'] == 3000, e
"

# --- 500 ---------------------------------------------------------------------------
start_sim E500a --fault-500 1 --fault-limit 1
gen E500a "${M[@]}" < "$TMP/one.jsonl" |
    check "one 500 then success: retried, sample records 2 attempts" "
s = rows[0]['output']['samples'][0]
assert s['attempts'] == 2 and s['answer'], s
"
start_sim E500 --fault-500 1
gen E500 "${M[@]}" < "$TMP/one.jsonl" |
    check "500 every time: retryable failure after max_attempts" "
e = rows[0]['error']
assert e['retryable'] and not e['ratelimited'] and 'HTTP 500' in e['reason'] and '3 attempts' in e['reason'], e
"
expect "exactly max_attempts requests" test "$(sim_stat E500 requests)" -eq 3

# --- stalls --------------------------------------------------------------------------
start_sim STALLa --fault-stall 1 --fault-limit 1 --stall-ms 5000
start=$(date +%s%N)
gen STALLa "${M[@]}" < "$TMP/one.jsonl" |
    check "a stall: first-byte timeout, retried, success" "
s = rows[0]['output']['samples'][0]
assert s['attempts'] == 2, s
"
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect "stall cut by the first-byte timeout (${took} ms)" test "$took" -lt 4000
start_sim STALL --fault-stall 1 --stall-ms 5000
gen STALL "${M[@]}" -p max_attempts=2 < "$TMP/one.jsonl" |
    check "stalls every time: retryable, reason names the first-byte timeout" "
e = rows[0]['error']
assert e['retryable'] and 'first byte timeout' in e['reason'], e
"

# --- keep-alive lines (benign) --------------------------------------------------------
start_sim KA --fault-keepalive 1 --latency-ms 700 --keepalive-ms 100
for stream in false true; do
    gen KA "${M[@]}" -p stream=$stream < "$TMP/one.jsonl" |
        check "keep-alive blank lines / comments (stream=$stream) are skipped" "
s = rows[0]['output']['samples'][0]
assert s['attempts'] == 1 and s['answer'].endswith(tuple('ABCDE')) and s['reasoning'], s
if '$stream' == 'false': assert s['raw'].startswith('\n\n'), repr(s['raw'][:10])
else: assert ': keep-alive' in s['raw']
"
done

# --- truncated bodies -----------------------------------------------------------------
start_sim TRa --fault-truncate 1 --fault-limit 1
gen TRa "${M[@]}" < "$TMP/one.jsonl" |
    check "one truncated body then success" "
assert rows[0]['output']['samples'][0]['attempts'] == 2
"
start_sim TR --fault-truncate 1
for stream in false true; do
    gen TR "${M[@]}" -p stream=$stream < "$TMP/one.jsonl" |
        check "truncated every time (stream=$stream): retryable, reason says truncated" "
e = rows[0]['error']
assert e['retryable'] and 'truncated' in e['reason'], e
"
done

# --- garbage JSON, empty choices, refusals --------------------------------------------
start_sim GB --fault-garbage 1
for stream in false true; do
    gen GB "${M[@]}" -p stream=$stream < "$TMP/one.jsonl" |
        check "garbage JSON (stream=$stream): retryable, reason says malformed" "
e = rows[0]['error']
assert e['retryable'] and 'malformed JSON' in e['reason'], e
"
done
start_sim EMPTY --fault-empty 1
gen EMPTY "${M[@]}" < "$TMP/one.jsonl" |
    check "empty choices: retryable" "
e = rows[0]['error']
assert e['retryable'] and 'no choices' in e['reason'], e
"
start_sim REF --fault-refusal 1
gen REF "${M[@]}" < "$TMP/one.jsonl" |
    check "refusal: not retryable, reason quotes the refusal" "
e = rows[0]['error']
assert not e['retryable'] and 'refused' in e['reason'] and 'sorry' in e['reason'], e
"
expect "a refusal is not retried" test "$(sim_stat REF requests)" -eq 1

# --- API keys -------------------------------------------------------------------------
export ASSAY_TEST_SIM_KEY=sk-test-right-0123456789
export ASSAY_TEST_WRONG_KEY=sk-test-wrong-9876543210
start_sim AUTH --api-key-env ASSAY_TEST_SIM_KEY
gen AUTH "${M[@]}" -c endpoint.sim.api_key_env=ASSAY_TEST_SIM_KEY < "$TMP/one.jsonl" |
    check "the right key from the environment" "
assert rows[0]['output']['samples'][0]['answer']
"
printf 'sk-test-right-0123456789\n' > "$TMP/key.txt"
gen AUTH "${M[@]}" -c endpoint.sim.api_key_file="$TMP/key.txt" < "$TMP/one.jsonl" |
    check "the right key from a file" "
assert rows[0]['output']['samples'][0]['answer']
"
gen AUTH "${M[@]}" -c endpoint.sim.api_key_env=ASSAY_TEST_WRONG_KEY < "$TMP/one.jsonl" |
    check "a wrong key: not retryable, and the echoed key is redacted" "
e = rows[0]['error']
assert not e['retryable'] and 'authentication failed' in e['reason'], e
assert 'sk-test-wrong' not in json.dumps(rows), e
assert '[redacted]' in e['reason'], e
"
gen AUTH "${M[@]}" -c endpoint.sim.api_key_env=ASSAY_TEST_UNSET_KEY < "$TMP/one.jsonl" |
    check "an unset key variable: configuration error naming it" "
e = rows[0]['error']
assert not e['retryable'] and 'ASSAY_TEST_UNSET_KEY' in e['reason'] and 'not set' in e['reason'], e
"

# --- shutdown with work in flight and in backoff -----------------------------------------
start_sim SLOW --latency-ms 3000
mcq_items 3 | gen SLOW "${M[@]}" -c endpoint.sim.first_byte_timeout_ms=0 -p n=2 -t 300 |
    check "shutdown with requests in flight: every task fails, retryable" "
assert len(rows) == 3
for r in rows:
    assert r['error']['retryable'] and 'shut' in r['error']['reason'], r
"
start_sim BACKOFF --fault-500 1
mcq_items 3 | gen BACKOFF "${M[@]}" -p max_attempts=10 -t 400 |
    check "shutdown while retries wait on a backoff timer: every task fails, retryable" "
assert len(rows) == 3
for r in rows:
    assert r['error']['retryable'] and 'shutdown' in r['error']['reason'], r
"

# --- nobody listening -------------------------------------------------------------------
"$GEN" -c endpoint.sim.base_url=http://127.0.0.1:1/v1 "${M[@]}" -p max_attempts=2 < "$TMP/one.jsonl" |
    check "connection refused: retryable transport error" "
e = rows[0]['error']
assert e['retryable'] and 'transport error' in e['reason'], e
"
finish
