#!/usr/bin/env bash
# llm_cache.sh: cache keys per sample, and samples already paid for (input
# "cached") are served without a second call to the endpoint.
# timeout: 180
source "$(dirname "$0")/llm_lib.bash"

start_sim C --latency-ms 10
mcq_items 1 > "$TMP/one.jsonl"
P=(-c endpoint.sim.model=sim-r1 -c endpoint.sim.price_in_per_mtok=1 -c endpoint.sim.price_out_per_mtok=4 -p n=3 -p seed=5)

gen C "${P[@]}" < "$TMP/one.jsonl" > "$TMP/first.jsonl"
expect "first run: three paid calls" test "$(sim_stat C requests)" -eq 3
gen C "${P[@]}" < "$TMP/one.jsonl" > "$TMP/second.jsonl"
cat "$TMP/first.jsonl" "$TMP/second.jsonl" |
    check "cache keys are deterministic and distinct per sample; cost is counted" "
a, b = rows[0]['output'], rows[1]['output']
ka = [s['cache_key'] for s in a['samples']]
assert ka == [s['cache_key'] for s in b['samples']] and len(set(ka)) == 3
assert a['cost'] > 0 and abs(a['cost'] - sum(s['cost'] for s in a['samples'])) < 1e-12
"
before=$(sim_stat C requests)

# feed the paid samples back: no call at all
$PY - "$TMP/one.jsonl" "$TMP/first.jsonl" "$TMP/cached_all.jsonl" "$TMP/cached_two.jsonl" <<'PYEOF'
import json, sys
item = json.loads(open(sys.argv[1]).readline())
samples = json.loads(open(sys.argv[2]).readline())["output"]["samples"]
with open(sys.argv[3], "w") as f:
    f.write(json.dumps(dict(item, cached=samples), ensure_ascii=False) + "\n")
with open(sys.argv[4], "w") as f:
    f.write(json.dumps(dict(item, cached=samples[:2]), ensure_ascii=False) + "\n")
PYEOF
gen C "${P[@]}" < "$TMP/cached_all.jsonl" > "$TMP/third.jsonl"
expect "all samples cached: no second paid call" test "$(sim_stat C requests)" -eq "$before"
cat "$TMP/first.jsonl" "$TMP/third.jsonl" |
    check "cached samples come back unchanged, marked cached, nothing spent" "
a, c = rows[0]['output'], rows[1]['output']
assert c['requests'] == 0 and c['cost'] == 0 and c['cached_samples'] == 3, c
for x, y in zip(a['samples'], c['samples']):
    assert y['cached'] is True and x['answer'] == y['answer'] and x['cache_key'] == y['cache_key']
"
gen C "${P[@]}" < "$TMP/cached_two.jsonl" |
    check "two of three cached: only the missing one is requested" "
o = rows[0]['output']
assert o['requests'] == 1 and o['cached_samples'] == 2, o
assert [s['cached'] for s in o['samples']] == [True, True, False]
"
expect "exactly one more call" test "$(sim_stat C requests)" -eq $((before + 1))
# other parameters make other keys: stale cached samples are not reused
gen C "${P[@]}" -p temperature=0.3 < "$TMP/cached_all.jsonl" |
    check "samples cached for other parameters are requested again" "
o = rows[0]['output']
assert o['requests'] == 3 and o['cached_samples'] == 0, o
"
finish
