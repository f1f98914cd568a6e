#!/usr/bin/env bash
# cli_report_html: `assay report JOB --html FILE` opened in a real headless browser
# (Debian's chromium): the page loads without console messages, needs nothing from
# the network, its SVG charts are in the DOM, and the screenshot is not blank (the
# bar colour covers a good share of it). A page with a script error is checked the
# same way first, to prove the console check sees errors.
# Skips (exit 77, prints SKIP) only when chromium is missing and cannot be installed.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "chromium missing: installing it (ops/deps.sh --test lists it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } || true
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP cli_report_html: chromium is not installed and could not be installed" \
       "(as root: apt-get install chromium, or ops/deps.sh --test)"
  exit 77
fi

it_setup cli_report_html
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -q -v ON_ERROR_STOP=1 \
  -f "$IT_ROOT/tests/integration/cli_fixture.sql" >/dev/null || fail "could not load the fixture"
BAR=3b6fd6 # svg .bar fill in cmd_report.c

# browse FILE.html NAME: screenshot NAME.png, DOM NAME.dom, log NAME.log
browse() {
  local page=$1 name=$2 prof
  prof=$(mktemp -d "$IT_TMP/chromium.XXXXXX")
  local flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
               --disable-component-update --disable-sync --no-first-run --user-data-dir="$prof"
               --enable-logging=stderr --v=0 --window-size=1280,2000)
  HOME=$prof timeout 90 chromium "${flags[@]}" --screenshot="$IT_TMP/$name.png" "file://$page" \
    >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.log" || fail "chromium could not render $page"
  HOME=$prof timeout 90 chromium "${flags[@]}" --dump-dom "file://$page" \
    >"$IT_TMP/$name.dom" 2>>"$IT_TMP/$name.log" || fail "chromium could not load $page"
  [ -s "$IT_TMP/$name.png" ] || fail "no screenshot of $page"
}

# the console check must see a script error
cat >"$IT_TMP/bad.html" <<'HTML'
<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body><p>x</p><script>console.error("deliberate"); undefinedFunction();</script></body></html>
HTML
browse "$IT_TMP/bad.html" bad
grep -q 'CONSOLE' "$IT_TMP/bad.log" || fail "the console check does not see console errors with this chromium"

out=$("$BIN/assay" report 1 --html "$IT_TMP/report.html") || fail "assay report --html failed"
[ "$out" = "wrote $IT_TMP/report.html" ] || fail "unexpected output: $out"
f=$IT_TMP/report.html
# self-contained: no script, no external resource; the only URL is the SVG namespace
! grep -qi '<script' "$f" || fail "the report has a script"
! grep -Eqi '(src|href)="(https?:|//)|url\(|@import' "$f" || fail "the report loads something from outside"
[ "$(grep -o 'https\?://[^"]*' "$f" | sort -u)" = "http://www.w3.org/2000/svg" ] || fail "unexpected URLs in the report"
[ "$(grep -o '<svg' "$f" | wc -l)" -eq 7 ] || fail "expected 7 charts, found $(grep -o '<svg' "$f" | wc -l)"

browse "$f" report
if grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Refused to' "$IT_TMP/report.log"; then
  fail "the report page logged console errors"
fi
dom=$IT_TMP/report.dom
[ "$(grep -o '<svg' "$dom" | wc -l)" -eq 7 ] || fail "the browser DOM has $(grep -o '<svg' "$dom" | wc -l) charts, expected 7"
for t in "Job 1 funnel: items through each stage" "Job 1, round 1: items by pass rate" \
         "Job 1, round 2: items by pass rate" "Cost over time (USD per day)" \
         "Throughput per task kind (tasks per second)" "Job 1, scorer verify: score distribution" \
         "Job 1, scorer outcome: score distribution"; do
  grep -qF "$t" "$dom" || fail "chart \"$t\" missing from the DOM"
done
bars=$(grep -o '<rect class="bar"' "$dom" | wc -l)
# funnel 4 + pass-rate 2x10 + cost 2 + throughput 3 + scores 2x10
[ "$bars" -eq 49 ] || fail "expected 49 bars in the DOM, found $bars"

read -r w h colours nonwhite total barpx < <(/usr/bin/python3 "$IT_ROOT/tests/lib/png_stats.py" "$IT_TMP/report.png" $BAR) ||
  fail "could not read the screenshot"
echo "screenshot ${w}x${h}: $colours colours, $nonwhite of $total pixels not white, $barpx bar pixels"
[ "$colours" -gt 16 ] || fail "the screenshot has only $colours colours (blank page?)"
[ $((nonwhite * 100 / total)) -ge 3 ] || fail "the screenshot is almost all white ($nonwhite of $total)"
[ "$barpx" -gt 5000 ] || fail "the charts' bars are not on the screenshot ($barpx bar pixels)"

# a job with no figures still gives a page that loads cleanly (no chart, tables say so)
"$BIN/assay" report 2 --html "$IT_TMP/empty.html" >/dev/null || fail "report of an empty job failed"
browse "$IT_TMP/empty.html" empty
! grep -E 'CONSOLE|Uncaught' "$IT_TMP/empty.log" || fail "the empty report logged console errors"
grep -q 'no rows' "$IT_TMP/empty.dom" || fail "the empty report does not say there are no rows"

# an unwritable destination: clear error, exit 1, nothing left behind
rc=0
"$BIN/assay" report 1 --html /nonexistent-dir/r.html 2>"$IT_TMP/err" >/dev/null || rc=$?
[ $rc -eq 1 ] || fail "unwritable --html: exit $rc, expected 1"
grep -q 'could not create "/nonexistent-dir/r.html.tmp' "$IT_TMP/err" || fail "unwritable --html: $(cat "$IT_TMP/err")"
echo "PASS cli_report_html"
