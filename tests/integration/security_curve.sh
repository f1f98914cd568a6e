#!/usr/bin/env bash
# security_curve: CurveZMQ between broker and workers. A worker whose key is not
# in the broker's allowlist, and a worker talking plain TCP, receive no task while
# an allowed worker runs a whole job; the broker refuses to start without keys
# unless curve = off; after the unknown key is added to the allowlist and the
# broker gets SIGHUP, that worker registers and runs work.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup security_curve

# no key and no explicit curve = off: refuse to start, and say what to do
if env -u ASSAY_BROKER_SECRET_KEY_FILE timeout 20 "$BIN/assay-broker" \
     --bind "tcp://127.0.0.1:$(free_port)" >"$IT_TMP/nokey.log" 2>&1; then
  fail "the broker started without a key"
fi
grep -q "no broker key: set broker.secret_key_file" "$IT_TMP/nokey.log" ||
  fail "unclear error without a key: $(cat "$IT_TMP/nokey.log")"
if env -u ASSAY_WORKER_KEY_FILE timeout 20 "$BIN/assay-worker" --broker tcp://127.0.0.1:1 \
     >"$IT_TMP/nokey-worker.log" 2>&1; then
  fail "the worker started without a key"
fi
grep -q "no worker key" "$IT_TMP/nokey-worker.log" || fail "unclear worker error: $(cat "$IT_TMP/nokey-worker.log")"

"$BIN/assay" keygen --out "$IT_TMP/keys/intruder" >/dev/null
[ "$(stat -c %a "$IT_TMP/keys/intruder.key")" = 600 ] || fail "secret key file is not 0600"
"$BIN/assay" keygen --out "$IT_TMP/keys/intruder" 2>"$IT_TMP/keygen-again.err" &&
  fail "keygen overwrote an existing key"
grep -q "use --force" "$IT_TMP/keygen-again.err" || fail "keygen: unclear overwrite error"

mport=$(free_port)
ASSAY_BROKER_METRICS=127.0.0.1:$mport start_broker
start_worker allowed noop=8
allowed_pid=$WORKER_PID
ASSAY_WORKER_KEY_FILE=$IT_TMP/keys/intruder.key start_worker intruder noop=64
intruder_pid=$WORKER_PID
ASSAY_CURVE=off start_worker plain noop=64

n=500
seq 1 $n | awk '{printf "{\"id\":\"c%d\",\"question\":\"q%d\",\"answer\":\"A\",\"options\":{\"A\":\"x\",\"B\":\"y\"}}\n", $1, $1}' >"$IT_TMP/items.jsonl"
echo '{"name":"curve","stages":[{"name":"echo","kind":"noop","params":{}}]}' >"$IT_TMP/spec.json"
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job" 60
by_allowed=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND worker = 'allowed' AND state = 'done'")
by_others=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND worker IS DISTINCT FROM 'allowed'")
denied=$(curl -sf "http://127.0.0.1:$mport/metrics" | sed -n 's/^assay_curve_auth_total{result="denied"} //p')
echo "allowed_worker_tasks=$by_allowed other_worker_tasks=$by_others curve_denied=$denied"
[ "$by_allowed" -eq $n ] || fail "the allowed worker did $by_allowed of $n tasks"
[ "$by_others" -eq 0 ] || fail "$by_others tasks went to a worker without an allowed key"
grep -q "registered with broker" "$IT_TMP/worker-intruder.log" && fail "the intruder registered"
grep -q "registered with broker" "$IT_TMP/worker-plain.log" && fail "the plain worker registered"
for i in $(seq 1 100); do
  grep -q "rejected a client key not in the allowlist" "$IT_TMP/broker.log" && break
  sleep 0.1
done
grep -q "rejected a client key not in the allowlist" "$IT_TMP/broker.log" ||
  fail "the broker did not log the rejected key"
# the job can end before the intruder's handshake times out: give it the time
for i in $(seq 1 100); do
  grep -q "the broker rejected this worker's key" "$IT_TMP/worker-intruder.log" && break
  sleep 0.1
done
grep -q "the broker rejected this worker's key" "$IT_TMP/worker-intruder.log" ||
  fail "the intruder did not say why it gets no work"
grep -q "curve = off" "$IT_TMP/worker-plain.log" || fail "no warning for curve = off"
denied=$(curl -sf "http://127.0.0.1:$mport/metrics" | sed -n 's/^assay_curve_auth_total{result="denied"} //p')
[ "${denied:-0}" -ge 1 ] || fail "metrics count no denied handshake"
# the secret key never reaches a log
secret=$(sed -n 's/^secret-key = //p' "$IT_TMP/keys/broker.key")
if grep -rqF "$secret" "$IT_TMP"/*.log; then fail "a secret key appears in a log"; fi

# allow the intruder's key, reload with SIGHUP: it registers and takes work
cat "$IT_TMP/keys/intruder.pub" >>"$IT_TMP/keys/allowed"
kill -HUP "$BROKER_PID"
for i in $(seq 1 400); do
  grep -q "registered with broker" "$IT_TMP/worker-intruder.log" && break
  sleep 0.1
done
grep -q "registered with broker" "$IT_TMP/worker-intruder.log" ||
  fail "the intruder did not register after its key was allowed"
grep -q "allowlist .* reloaded: 2 keys" "$IT_TMP/broker.log" || fail "no reload logged"
# only the intruder may run it now
kill -TERM "$allowed_pid"
job2=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
       sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job2" 60
by_intruder=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job2 AND worker = 'intruder'")
echo "after_reload_intruder_tasks=$by_intruder"
[ "$by_intruder" -gt 0 ] || fail "the newly allowed worker took no task"
echo "PASS security_curve"
