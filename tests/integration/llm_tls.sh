#!/usr/bin/env bash
# llm_tls.sh: HTTPS to assay-simllm with a test CA made at run time: the right CA
# works (per endpoint and as the process default), a wrong CA and the system store
# are refused with a non-retryable certificate error, and many requests in flight
# over TLS all succeed.
# timeout: 180
source "$(dirname "$0")/llm_lib.bash"

make_certs "$TMP/pki"
start_sim TLS --tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key" --latency-ms 20
mcq_items 2 > "$TMP/two.jsonl"
URL="https://127.0.0.1:$PORT_TLS/v1"
M=(-c "endpoint.sim.base_url=$URL" -c endpoint.sim.model=sim-r1)

"$GEN" "${M[@]}" -c "endpoint.sim.ca_file=$TMP/pki/ca.pem" -p n=2 < "$TMP/two.jsonl" |
    check "HTTPS with the test CA as the endpoint's ca_file" "
for row in rows:
    assert len(row['output']['samples']) == 2 and row['output']['samples'][0]['reasoning'], row
"
"$GEN" "${M[@]}" -c "http.ca_file=$TMP/pki/ca.pem" < "$TMP/two.jsonl" |
    check "HTTPS with the test CA as http.ca_file" "
assert all('output' in r for r in rows), rows
"
"$GEN" "${M[@]}" -c "endpoint.sim.ca_file=$TMP/pki/other-ca.pem" < "$TMP/two.jsonl" |
    check "a wrong CA is refused: not retryable, certificate error" "
for r in rows:
    e = r['error']
    assert not e['retryable'] and 'certificate verification failed' in e['reason'], e
"
"$GEN" "${M[@]}" < "$TMP/two.jsonl" |
    check "the system trust store does not trust the test CA" "
for r in rows:
    e = r['error']
    assert not e['retryable'] and 'certificate' in e['reason'], e
"
"$GEN" "${M[@]}" -c "endpoint.sim.ca_file=$TMP/pki/missing.pem" < "$TMP/two.jsonl" |
    check "a CA file that does not exist is a configuration error" "
for r in rows:
    assert not r['error']['retryable'], r
"
expect "300 requests, 100 in flight, over TLS" \
    "$BUILD/bench/llm_drive" --url "$URL" --ca "$TMP/pki/ca.pem" --concurrency 100 --requests 300
expect "the same on the executor's pollfd-list loop" \
    "$BUILD/bench/llm_drive" --url "$URL" --ca "$TMP/pki/ca.pem" --concurrency 100 --requests 300 --pollfds
expect "the same with the wrong CA fails" \
    bash -c "! '$BUILD/bench/llm_drive' --url '$URL' --ca '$TMP/pki/other-ca.pem' --concurrency 10 --requests 10 2>/dev/null"
finish
