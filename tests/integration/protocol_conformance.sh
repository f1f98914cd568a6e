#!/usr/bin/env bash
# protocol_conformance: the real broker follows common/PROTOCOL.md, one rule per
# scenario of tests/protocol/probe.py (hand-made messages through the codec of the
# Python worker, written from the document alone):
#   welcome          §4.2 the proposed heartbeat within the bounds; WELCOME has lg
#   ready_twice      §4.6 READY again / same name on a new connection: one registration
#   ready_keeps      §4.6 READY again on the same connection keeps its running task
#   wrong_direction  §6 3000 WELCOME/TASK from a worker: counted, and a short log
#   unregistered     §6 HEARTBEAT before READY: counted and answered
#   bad_version      §6/§7 an unsupported version is answered with DISCONNECT
#   heartbeat_n      §3 HEARTBEAT n is exported
#   not_holder       §5 a RESULT/FAIL from another connection is dropped, no credit
#   bad_output       §5 an output that is not a JSON object: permanent, counted
#   declined         §5 FAIL dr: the task comes back without an attempt counted
#   drain            §4.7 DISCONNECT with any reason stops dispatching
#   lease            §5 at to + lg the credit returns and the attempt ends together
# Each scenario works on its own noop job (cancelled after it).
# Needs python3-zmq and python3-msgpack (exit 77 without them).
# timeout: 240
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
PROBE="$IT_ROOT/tests/protocol/probe.py"
if ! $PY -c "import zmq, msgpack" 2>/dev/null; then
  echo "SKIP: python3-zmq and python3-msgpack are needed (ops/deps.sh --test installs them)"
  exit 77
fi
it_setup protocol_conformance

export ASSAY_BROKER_HEARTBEAT_MS=1000 ASSAY_BROKER_HEARTBEAT_MIN_MS=300 \
       ASSAY_BROKER_HEARTBEAT_MAX_MS=2000 ASSAY_BROKER_LIVENESS=5 \
       ASSAY_BROKER_RETRY_BASE_MS=100 ASSAY_BROKER_RETRY_MAX_MS=400
MPORT=$(free_port)
ASSAY_BROKER_METRICS=127.0.0.1:$MPORT start_broker
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$MPORT/readyz" >/dev/null && break; sleep 0.1; done

SEQ=0
# submit COUNT [TIMEOUT_S]: a noop job over COUNT new items; sets JOB
submit() {
  local count=$1 timeout=${2:-60} out
  SEQ=$((SEQ + 1))
  awk -v n="$count" -v s="$SEQ" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"%s-%d\",\"question\":\"q %s-%d\"}\n", s, i, s, i }' \
    >"$IT_TMP/items-$SEQ.jsonl"
  printf '{"name": "p%d", "stages": [{"name": "s", "kind": "noop", "max_attempts": 5, "timeout_s": %d, "params": {}}]}\n' \
    "$SEQ" "$timeout" >"$IT_TMP/spec-$SEQ.json"
  out=$("$BIN/assay" submit --spec "$IT_TMP/spec-$SEQ.json" --input "$IT_TMP/items-$SEQ.jsonl" \
    --dataset "d$SEQ" --json) || fail "submit failed"
  JOB=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$JOB" ] || fail "no job id in: $out"
}

probe() {
  it_log "probe $1"
  $PY "$PROBE" "$@" --metrics "127.0.0.1:$MPORT" >>"$IT_TMP/probe.log" 2>&1 ||
    { tail -n 5 "$IT_TMP/probe.log" >&2; fail "probe $1"; }
  tail -n 1 "$IT_TMP/probe.log"
}

# scenarios without tasks
probe welcome
probe ready_twice
before=$(wc -l <"$IT_TMP/broker.log")
probe wrong_direction --count 3000
lines=$(( $(wc -l <"$IT_TMP/broker.log") - before ))
# one warning, then at most one per 10 s (plus the registration's own lines)
[ "$lines" -le 8 ] || fail "3000 wrong-direction messages wrote $lines log lines"
it_log "3000 wrong-direction messages, $lines broker log lines meanwhile"
probe unregistered
probe bad_version
probe heartbeat_n

# scenarios with a job of their own
for s in ready_keeps:3 not_holder:4 bad_output:3 declined:1 drain:4; do
  submit "${s#*:}"
  probe "${s%%:*}" --job "$JOB"
  "$BIN/assay" cancel "$JOB" >/dev/null 2>&1 || true
done
# the lease: a stage with a 1 s timeout, the task held without an answer
submit 2 1
probe lease --job "$JOB"
"$BIN/assay" cancel "$JOB" >/dev/null 2>&1 || true

kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker died"
echo "protocol_conformance: all scenarios passed"
