# llm_lib.bash: helpers for the LLM integration tests (sourced, never run itself;
# not *.sh so no test runner mistakes it for a test). The build directory is the
# including script's $1, else $ASSAY_BUILD, else ./build.
set -euo pipefail

BUILD=${1:-${ASSAY_BUILD:-build}}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIMLLM=$BUILD/bin/assay-simllm
GEN=$BUILD/tests/llm_gen_run
DATA=${ASSAY_DATA_DIR:-$SRC/../shared/data}
TMP=$(mktemp -d /tmp/assay-llm-test.XXXXXX)
PY=/usr/bin/python3
SIM_PIDS=()

cleanup() {
    for p in "${SIM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${SIM_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# start_sim NAME [simllm options...]: starts assay-simllm on a free port and sets
# PORT_<NAME> and PID_<NAME>
start_sim() {
    local name=$1
    shift
    rm -f "$TMP/port.$name"
    "$SIMLLM" --listen 127.0.0.1:0 --port-file "$TMP/port.$name" --quiet "$@" \
        2>"$TMP/sim.$name.log" &
    local pid=$!
    SIM_PIDS+=("$pid")
    for _ in $(seq 1 100); do
        [ -s "$TMP/port.$name" ] && break
        sleep 0.05
    done
    if [ ! -s "$TMP/port.$name" ]; then
        echo "assay-simllm $name did not start:" >&2
        cat "$TMP/sim.$name.log" >&2
        exit 1
    fi
    printf -v "PORT_$name" '%s' "$(cat "$TMP/port.$name")"
    printf -v "PID_$name" '%s' "$pid"
}

# sim_stat NAME FIELD: a counter from the server's /stats
sim_stat() {
    local port_var="PORT_$1"
    curl -s "http://127.0.0.1:${!port_var}/stats" | $PY -c "import sys, json; print(json.load(sys.stdin)['$2'])"
}

# gen NAME [llm_gen_run args...] < items: generate against sim NAME (endpoint "sim")
gen() {
    local port_var="PORT_$1"
    shift
    "$GEN" -c "endpoint.sim.base_url=http://127.0.0.1:${!port_var}/v1" "$@"
}

# check DESCRIPTION PYTHON_CODE: runs python code with `rows` = the JSON lines of
# stdin; the code raises (assert) on failure. Results go to a file because check
# usually runs in a pipeline's subshell.
check() {
    local desc=$1 code=$2
    local input
    input=$(cat)
    if printf '%s\n' "$input" | $PY -c "
import sys, json
rows = [json.loads(l) for l in sys.stdin if l.strip()]
$code
" 2>"$TMP/check.err"; then
        echo "ok: $desc"
        echo pass >> "$TMP/results"
    else
        echo "FAIL: $desc" >&2
        sed 's/^/    /' "$TMP/check.err" >&2
        printf '%s\n' "$input" | head -c 1500 | sed 's/^/    | /' >&2
        echo >&2
        echo fail >> "$TMP/results"
    fi
}

# a few real MCQ items, or made-up ones when the shared data is absent
mcq_items() {
    local n=${1:-3}
    if [ -f "$DATA/exam_mcq.jsonl" ]; then
        head -n "$n" "$DATA/exam_mcq.jsonl"
    else
        for i in $(seq 1 "$n"); do
            printf '{"id":"q%d","question":"第%d题：夜间阵发性呼吸困难，可见于","options":{"A":"急性脑血管疾病","B":"癔病","C":"急性感染所致的毒血症","D":"慢性阻塞性肺气肿","E":"左心功能不全"},"answer":"E"}\n' "$i" "$i"
        done
    fi
}

# expect DESCRIPTION COMMAND...: records a pass when the command succeeds
expect() {
    local desc=$1
    shift
    if "$@"; then
        echo "ok: $desc"
        echo pass >> "$TMP/results"
    else
        echo "FAIL: $desc ($*)" >&2
        echo fail >> "$TMP/results"
    fi
}

finish() {
    local passes fails
    passes=$(grep -c '^pass$' "$TMP/results" 2>/dev/null || true)
    fails=$(grep -c '^fail$' "$TMP/results" 2>/dev/null || true)
    echo "${passes:-0} passed, ${fails:-0} failed"
    [ "${fails:-0}" -eq 0 ] && [ "${passes:-0}" -gt 0 ]
}

# make_certs DIR: a test CA, a server certificate for 127.0.0.1/localhost signed by
# it, and an unrelated CA (made fresh for every run; no key is ever committed)
make_certs() {
    local d=$1
    mkdir -p "$d"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
        -subj "/CN=assay test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -x509 "${ec[@]}" -keyout "$d/other.key" -out "$d/other-ca.pem" -days 2 \
        -subj "/CN=some other CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
    openssl req "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -out "$d/server.pem" -days 2 -extfile "$d/ext.cnf" 2>/dev/null
}
