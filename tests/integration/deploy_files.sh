#!/usr/bin/env bash
# deploy_files: the files under ops/deploy/ are well-formed and agree with the
# programs. systemd units pass `systemd-analyze verify` without a warning; compose
# and Kubernetes YAML parse; every config key they set is documented in the README
# (or in worker/llm/endpoint.h for endpoint keys); every ASSAY_* variable maps to such
# a key; every flag given to a binary is in that binary's --help; the files the
# Dockerfile copies exist and the Debian packages it installs are known to apt.
# A check whose tool is missing (systemd-analyze, python3-yaml, a bookworm apt) is
# reported, the others still run, and the test then exits 77 (skipped), never 0.
# timeout: 180
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ASSAY_BIN:-$ROOT/build/bin}
D=$ROOT/ops/deploy
tmp=$(mktemp -d /tmp/assay-deploy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
skipped=""
skip_check() { echo "SKIP check: $*"; skipped="$skipped; $*"; }

if command -v systemd-analyze >/dev/null; then
  for u in "$D"/systemd/*.service; do
    name=$(basename "$u")
    [ "$name" = "assay-worker@.service" ] && name=assay-worker@1.service
    sed "s|/usr/local/bin/|$BIN/|g" "$u" >"$tmp/$name"
  done
  out=$(cd "$tmp" && systemd-analyze verify "$tmp"/*.service 2>&1) || fail "systemd-analyze verify: $out"
  # a bad value is only a warning for systemd: treat any message about our units as an error
  if echo "$out" | grep -q "assay"; then fail "systemd-analyze verify: $out"; fi
  echo "systemd units verified: $(ls "$D"/systemd | tr '\n' ' ')"
else
  skip_check "systemd-analyze not installed: units not verified"
fi

for b in assay assay-broker assay-worker assay-simllm; do
  "$BIN/$b" --help >"$tmp/help-$b.txt" 2>&1 || true
done
/usr/bin/python3 - "$ROOT" "$tmp" <<'PY'
import os, re, sys
root, tmp = sys.argv[1], sys.argv[2]
D = os.path.join(root, "ops/deploy")
errors = []
try:
    import yaml
except ImportError:
    yaml = None
    print("SKIP check: python3-yaml not installed: YAML not parsed")
    open(os.path.join(tmp, "skipped-yaml"), "w").close()

# documented keys: the README's Configuration block and endpoint.h
readme = open(os.path.join(root, "README.md")).read()
block = readme.split("## Configuration", 1)[1].split("```ini", 1)[1].split("```", 1)[0]
documented, section = set(), ""
for line in block.splitlines():
    line = line.split("#", 1)[0].strip()
    m = re.match(r"\[(.+)\]$", line)
    if m:
        section = m.group(1)
        continue
    m = re.match(r"([a-z_]+)\s*=", line)
    if m:
        documented.add((section + "." if section else "") + m.group(1))
ep_keys = set()
for line in open(os.path.join(root, "worker/llm/endpoint.h")):
    m = re.match(r" \*    ([a-z_, ]+?)\s{2,}", line) or re.match(r" \*    ([a-z_, ]+)$", line.rstrip())
    if m:
        ep_keys.update(k.strip() for k in m.group(1).split(",") if k.strip())
def known(key):
    if key in documented:
        return True
    m = re.match(r"endpoint\.[a-z0-9_-]+\.([a-z_]+)$", key)
    return bool(m and m.group(1) in ep_keys)
def env_known(var):
    for k in documented:
        if var == "ASSAY_" + re.sub(r"[.-]", "_", k).upper():
            return True
    m = re.match(r"ASSAY_ENDPOINT_[A-Z0-9]+_([A-Z_]+)$", var)
    return bool(m and m.group(1).lower() in ep_keys)

def ini_keys(text, where):
    section = ""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"\[(.+)\]$", line)
        if m:
            section = m.group(1); continue
        m = re.match(r"([a-z_]+)\s*=", line)
        if m:
            key = (section + "." if section else "") + m.group(1)
            if not known(key):
                errors.append(f"{where}: config key {key} is not documented")

ini_keys(open(os.path.join(D, "assay.conf.example")).read(), "assay.conf.example")

docs = []
if yaml:
    for rel in ["compose.yaml"] + ["k8s/" + f for f in sorted(os.listdir(os.path.join(D, "k8s")))]:
        try:
            for doc in yaml.safe_load_all(open(os.path.join(D, rel))):
                if doc is not None:
                    docs.append((rel, doc))
        except yaml.YAMLError as e:
            errors.append(f"{rel}: YAML does not parse: {e}")
    print(f"YAML parsed: {len(docs)} documents")
    for rel, doc in docs:
        if doc.get("kind") == "ConfigMap":
            for name, text in doc.get("data", {}).items():
                ini_keys(text, f"{rel} ConfigMap {name}")
        if rel.startswith("k8s/") and not {"apiVersion", "kind", "metadata"} <= set(doc):
            errors.append(f"{rel}: a document lacks apiVersion, kind or metadata")

# every ASSAY_* variable, and every flag passed to a binary
texts = {rel: open(os.path.join(D, rel)).read() for rel in
         ["compose.yaml", "Dockerfile"] + ["k8s/" + f for f in os.listdir(os.path.join(D, "k8s"))] +
         ["systemd/" + f for f in os.listdir(os.path.join(D, "systemd"))]}
for rel, text in texts.items():
    for var in set(re.findall(r"\bASSAY_[A-Z0-9_]+", text)):
        if var in ("ASSAY_CONFIG",):
            continue
        if not env_known(var):
            errors.append(f"{rel}: {var} maps to no documented config key")
helps = {b: open(os.path.join(tmp, f"help-{b}.txt")).read()
         for b in ["assay", "assay-broker", "assay-worker", "assay-simllm"]}
def check_cmd(rel, words):
    prog = None
    for w in words:
        base = os.path.basename(str(w))
        if base in helps:
            prog = base
        elif prog and str(w).startswith("--") and str(w) not in helps[prog]:
            errors.append(f"{rel}: {prog} has no flag {w}")
for rel, doc in docs:
    def walk(node, entry=None):
        if isinstance(node, dict):
            ep = node.get("entrypoint", entry)
            if isinstance(ep, str):
                ep = ep.split()
            for key in ("command", "args"):
                if isinstance(node.get(key), list):
                    check_cmd(rel, (ep or []) + node[key] if key == "command" and "entrypoint" in node
                              else node[key])
            for v in node.values():
                walk(v, entry)
        elif isinstance(node, list):
            for v in node:
                walk(v, entry)
    walk(doc)
for rel, text in texts.items():
    if rel.startswith("systemd/"):
        for line in text.splitlines():
            if line.startswith("ExecStart="):
                check_cmd(rel, line.split("=", 1)[1].split())

# the Dockerfile's COPY sources exist
for line in open(os.path.join(D, "Dockerfile")):
    m = re.match(r"COPY (?!--from)(\S+) ", line)
    if m and m.group(1) != "." and not os.path.exists(os.path.join(root, m.group(1))):
        errors.append(f"Dockerfile: COPY source {m.group(1)} does not exist")
for e in errors:
    print("error:", e)
print(f"documented keys: {len(documented)} (+ {len(ep_keys)} endpoint keys); problems: {len(errors)}")
sys.exit(1 if errors else 0)
PY
# the packages the image installs exist in this Debian release (when it is bookworm)
if grep -q '^12' /etc/debian_version 2>/dev/null && apt-cache show bash >/dev/null 2>&1; then
  pkgs=$(sed -n '/apt-get install/,/rm -rf/p' "$D/Dockerfile" | tr ' \\' '\n\n' |
         grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|update|y|no|var|lib|apt|lists|rf|and|&&)$' | sort -u)
  missing=""
  if ! apt-cache show $pkgs >/dev/null 2>&1; then
    for p in $pkgs; do
      apt-cache show "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
  fi
  [ -z "$missing" ] || fail "Dockerfile installs packages apt does not know:$missing"
  echo "Dockerfile packages known to apt: $(echo $pkgs | wc -w)"
else
  skip_check "not Debian 12 or no apt package lists: Dockerfile packages not checked"
fi
[ -e "$tmp/skipped-yaml" ] && skipped="$skipped; python3-yaml not installed"
if [ -n "$skipped" ]; then
  echo "SKIP deploy_files: every check that could run passed, but some could not run${skipped}" \
       "(ops/deps.sh --test installs what they need)"
  exit 77
fi
echo "PASS deploy_files"
