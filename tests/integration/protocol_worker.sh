#!/usr/bin/env bash
# protocol_worker: the real assay-worker follows common/PROTOCOL.md on its side,
# driven by tests/protocol/fakebroker.py (a ROUTER speaking through the codec of the
# Python worker): WELCOME taken; the same (id, at) twice answered once; a TASK
# beyond its slots or of a kind it did not advertise declined (FAIL rt, dr) without
# running; outputs are JSON objects; SIGTERM drains (DISCONNECT, crossing TASK
# declined, running task reported, last DISCONNECT); 50 RESULTs sent to the worker
# are counted by reason with one log line. No database needed.
# Needs python3-zmq and python3-msgpack (exit 77 without them).
# timeout: 90
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ASSAY_BIN:-$ROOT/build/bin}
PY=/usr/bin/python3
if ! $PY -c "import zmq, msgpack" 2>/dev/null; then
  echo "SKIP: python3-zmq and python3-msgpack are needed (ops/deps.sh --test installs them)"
  exit 77
fi
TMP=$(mktemp -d /tmp/assay-it-protocol_worker.XXXXXX)
WPID=""
cleanup() {
  local rc=$?
  [ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null || true
  if [ $rc -ne 0 ]; then echo "---- worker.log" >&2; tail -n 30 "$TMP/worker.log" >&2 || true; fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
"$BIN/assay" keygen --out "$TMP/broker" >/dev/null
"$BIN/assay" keygen --out "$TMP/worker" >/dev/null
free() {
  local p
  for p in $(shuf -i 20000-32000 -n 100); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
ep="tcp://127.0.0.1:$(free)"
mport=$(free)
export ASSAY_CONFIG=/dev/null ASSAY_WORKER_KEY_FILE=$TMP/worker.key \
       ASSAY_WORKER_BROKER_PUBLIC_KEY=$TMP/broker.pub ASSAY_WORKER_HEARTBEAT_MS=700
$PY "$ROOT/tests/protocol/fakebroker.py" --bind "$ep" --secret-key-file "$TMP/broker.key" \
  --worker-pid-file "$TMP/worker.pid" --worker-metrics "127.0.0.1:$mport" &
FPID=$!
ASSAY_WORKER_METRICS=127.0.0.1:$mport \
  "$BIN/assay-worker" --broker "$ep" --name fake-w --slots noop=1 >"$TMP/worker.log" 2>&1 &
WPID=$!
echo "$WPID" >"$TMP/worker.pid"
rc=0
wait "$FPID" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: fakebroker exited $rc" >&2; exit 1; }
for i in $(seq 1 100); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$WPID" 2>/dev/null && { echo "FAIL: the worker did not exit after draining" >&2; exit 1; }
wrc=0
wait "$WPID" || wrc=$?
WPID=""
[ "$wrc" -eq 0 ] || { echo "FAIL: the worker exited $wrc" >&2; exit 1; }
lines=$(grep -c "unexpected RESULT" "$TMP/worker.log" || true)
[ "$lines" -le 1 ] || { echo "FAIL: 50 wrong-direction messages wrote $lines log lines" >&2; exit 1; }
echo "protocol_worker: the C worker follows the worker-side rules"
