#!/usr/bin/env bash
# multihost: the factory across "hosts" on one machine. Postgres, the broker and
# two workers (each with its own assay-simllm on its loopback, like a local model
# server) run in separate network namespaces joined by veth links to a bridge.
# Mid-run, worker w1's link is cut for 30 s and then restored. Expected: the
# broker drops w1 and re-leases its tasks to w2; nothing is lost or stored twice;
# w1 rejoins after the link returns and takes work again. The job is
# generate (2 samples per question) -> verify -> difficulty filter -> noop, and
# every row it wrote is checked (tests/lib/integrity.sh). Prints
# lost=0 duplicated=0 scores_lost=0 samples_lost=0. Needs root and `ip netns`;
# skipped (exit 77) otherwise.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../lib/integrity.sh"

skip() { echo "SKIP multihost: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "the ip command (iproute2) is not installed"
probe=asyprobe$$
# probe twice: in some sandboxes (chroots) the first namespace works and the next fails
for k in 1 2; do
  ip netns add "$probe$k" 2>/dev/null && ip netns exec "$probe$k" true 2>/dev/null ||
    { ip netns del "${probe}1" 2>/dev/null; skip "network namespaces are not permitted here (ip netns add failed)"; }
done
ip netns del "${probe}1"
ip netns del "${probe}2"

CUT_S=${MULTIHOST_CUT_S:-30}
N=${MULTIHOST_ITEMS:-3600}
tag=asy$$
hub=$tag-hub
NS_PG=$tag-pg NS_BR=$tag-br NS_W1=$tag-w1 NS_W2=$tag-w2
net=10.213.$(( $$ % 200 + 20 ))
IP_PG=$net.1 IP_BR=$net.2 IP_W1=$net.3 IP_W2=$net.4
IT_TMP=$(mktemp -d /tmp/assay-multihost.XXXXXX)
chmod 755 "$IT_TMP"
PGDIR=$IT_TMP/pg

mh_cleanup() {
  local rc=$?
  for p in "${IT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${IT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop "$PGDIR"
  for ns in $NS_PG $NS_BR $NS_W1 $NS_W2 $hub; do ip netns del "$ns" 2>/dev/null || true; done
  if [ $rc -eq 0 ] || [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_TMP"; else echo "kept $IT_TMP" >&2; fi
  exit $rc
}
trap mh_cleanup EXIT

# ---- network: one namespace per host, veth pairs into a bridge in a hub namespace
ip netns add "$hub" || skip "network namespaces are not permitted here (ip netns add failed)"
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
ip -n "$hub" link set lo up
link() { # namespace, address, name of the hub end
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip -n "$1" link add eth0 type veth peer name "$3" netns "$hub"
  ip -n "$1" addr add "$2/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$hub" link set "$3" master br0
  ip -n "$hub" link set "$3" up
}
link "$NS_PG" "$IP_PG" h-pg
link "$NS_BR" "$IP_BR" h-br
link "$NS_W1" "$IP_W1" h-w1
link "$NS_W2" "$IP_W2" h-w2
it_log "namespaces up: pg=$IP_PG broker=$IP_BR w1=$IP_W1 w2=$IP_W2"

# ---- Postgres on its host, reachable over the links
mkdir -p "$PGDIR" && chown postgres: "$PGDIR"
pg_as "$(pg_bindir)/initdb" -D "$PGDIR" -U postgres -A trust -E UTF8 --locale=C >"$IT_TMP/initdb.log" 2>&1 ||
  fail "initdb failed"
echo "host all all $net.0/24 trust" >>"$PGDIR/pg_hba.conf"
ip netns exec "$NS_PG" bash -c ". '$IT_ROOT/tests/lib/pg.sh'; PG_TCP_PORT=5432 PG_LISTEN=$IP_PG pg_start '$PGDIR'" ||
  fail "could not start PostgreSQL in its namespace"
export PGHOST=$PGDIR PGPORT=5432 # the test itself talks over the unix socket
ip netns exec "$NS_W1" bash -c "exec 3<>/dev/tcp/$IP_PG/5432" 2>/dev/null ||
  fail "no route from w1's namespace to Postgres's"
createdb -U postgres assay_mh
export ASSAY_DB="host=$IP_PG port=5432 user=postgres dbname=assay_mh"
export ASSAY_CONFIG=/dev/null
ip netns exec "$NS_BR" "$BIN/assay" db migrate >"$IT_TMP/migrate.log" 2>&1 || fail "migrate over the link failed"
sql() { psql -U postgres -d assay_mh -At -v ON_ERROR_STOP=1 -c "$1"; }
IT_DBNAME=""

# ---- keys, model servers, broker, workers
mkdir -p "$IT_TMP/keys"
"$BIN/assay" keygen --out "$IT_TMP/keys/broker" >/dev/null
for w in w1 w2; do "$BIN/assay" keygen --out "$IT_TMP/keys/$w" >/dev/null; done
cat "$IT_TMP/keys/w1.pub" "$IT_TMP/keys/w2.pub" >"$IT_TMP/keys/allowed"
export ASSAY_BROKER_SECRET_KEY_FILE=$IT_TMP/keys/broker.key ASSAY_BROKER_ALLOWED_KEYS=$IT_TMP/keys/allowed
export ASSAY_WORKER_BROKER_PUBLIC_KEY=$IT_TMP/keys/broker.pub
export ASSAY_ENDPOINT_SIM_BASE_URL=http://127.0.0.1:18199/v1 ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1
for w in w1 w2; do
  ns=$NS_W1; [ $w = w2 ] && ns=$NS_W2
  ip netns exec "$ns" "$BIN/assay-simllm" --listen 127.0.0.1:18199 --mode r1 --latency-ms 100 \
    --quiet >"$IT_TMP/simllm-$w.log" 2>&1 &
  IT_PIDS+=($!)
done
ip netns exec "$NS_BR" "$BIN/assay-broker" --bind "tcp://$IP_BR:5555" >"$IT_TMP/broker.log" 2>&1 &
BROKER_PID=$!
IT_PIDS+=($BROKER_PID)
for w in w1 w2; do
  ns=$NS_W1; [ $w = w2 ] && ns=$NS_W2
  ASSAY_WORKER_KEY_FILE=$IT_TMP/keys/$w.key ip netns exec "$ns" "$BIN/assay-worker" \
    --broker "tcp://$IP_BR:5555" --name $w --slots generate=4,verify=1,noop=2 \
    --terms "$IT_ROOT/ops/sample/terms" >"$IT_TMP/worker-$w.log" 2>&1 &
  IT_PIDS+=($!)
done

# ---- the job
seq 1 "$N" | awk '{printf "{\"id\":\"mh%d\",\"question\":\"Question %d: which option?\",\"options\":{\"A\":\"first\",\"B\":\"second\",\"C\":\"third\"},\"answer\":\"B\"}\n", $1, $1}' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "multihost", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 60,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 2}},
  {"name": "check", "kind": "verify", "timeout_s": 60, "params": {}},
  {"name": "band", "kind": "filter", "params": {"min_pass_rate": 0.2, "max_pass_rate": 0.8}},
  {"name": "after", "kind": "noop", "timeout_s": 60, "params": {"echo": true}}]}
JSON
NS=2
job=$(ip netns exec "$NS_BR" "$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
done_by() { sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'generate' AND state = 'done' AND worker = '$1'"; }
for i in $(seq 1 300); do
  [ "$(done_by w1)" -ge 100 ] && [ "$(done_by w2)" -ge 100 ] && break
  sleep 0.1
done
[ "$(done_by w1)" -ge 100 ] || fail "w1 did not get going"

# ---- cut w1's link
ip -n "$hub" link set h-w1 down
cut_at=$(sql "SELECT now()")
it_log "cut w1's link (w1 done $(done_by w1), w2 done $(done_by w2))"
sleep "$CUT_S"
w2_during=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'generate' AND worker = 'w2' AND state = 'done' AND finished_at > '$cut_at'")
ip -n "$hub" link set h-w1 up
restored_at=$(sql "SELECT now()")
it_log "restored w1's link; w2 finished $w2_during tasks during the cut"
grep -q "worker w1 removed" "$IT_TMP/broker.log" || fail "the broker never dropped the cut worker"

state=""
for i in $(seq 1 900); do
  state=$(sql "SELECT state FROM jobs WHERE id = $job")
  [ "$state" = done ] && break
  sleep 0.2
done
[ "$state" = done ] || fail "job not done 180 s after the link came back ($(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state <> 'done'") tasks left)"

# ---- verdict
# what w1 held when the broker gave up on it went back to the queue and ran again
held=$(sed -n 's/.*worker w1 removed (heartbeat missed): \([0-9]*\) tasks back.*/\1/p' "$IT_TMP/broker.log" | head -1)
held=${held:-0}
held_done=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt > 1 AND state = 'done'")
held_by_w2=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt > 1 AND state = 'done' AND worker = 'w2'")
samples=$(sql "SELECT count(*) FROM samples WHERE job_id = $job")
w1_after=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND worker = 'w1' AND state = 'done' AND finished_at > '$restored_at'")
echo "items=$N samples=$samples released_from_w1=$held ran_again=$held_done of_them_on_w2=$held_by_w2 w2_during_cut=$w2_during w1_after_restore=$w1_after"
integrity_check "$job" "$NS"
[ "$lost" -eq 0 ] && [ "$duplicated" -eq 0 ] || fail "lost=$lost duplicated=$duplicated"
[ "$scores_lost" -eq 0 ] && [ "$samples_lost" -eq 0 ] || fail "scores_lost=$scores_lost samples_lost=$samples_lost"
[ "$filter_mismatch" -eq 0 ] || fail "$filter_mismatch filter decisions do not match their item's scores"
[ "$samples" -eq $((N * NS)) ] || fail "samples: $samples for $N items at n=$NS"
[ "$held" -gt 0 ] || fail "the broker released no task of w1"
[ "$held_done" -ge "$held" ] || fail "only $held_done tasks ran again, $held were released"
[ "$held_by_w2" -gt 0 ] || fail "none of w1's tasks went to w2"
[ "$w2_during" -gt 0 ] || fail "w2 did nothing while w1 was cut off"
[ "$w1_after" -gt 0 ] || fail "w1 did not take work again after its link came back"
echo "PASS multihost"
