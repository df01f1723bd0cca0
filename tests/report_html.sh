#!/usr/bin/env bash
# report_html.sh CRM HAVE_ECHARTS NODE_MODULES OUT_DIR - `crm report --format html` (issue 14
# item 4). With ECharts embedded (HAVE_ECHARTS=ON): the page of an A/B test with a budget that
# runs out (grants, rejections by budget, a control group, orders) is one file that loads nothing
# from the network; tests/check_report_html.js opens it in headless chromium and checks that every
# chart rendered and no console error, keeping screenshots in OUT_DIR. Without ECharts: a clear
# error (exit 3) and no file. Exit 77 (skipped) when node, chrome-remote-interface or chromium is
# missing. Then the same for `crm forecast --format html` (issue 14 item 5): the visits replayed a
# year later against a paced strategy with a budget and a stock (budget and stock burn against the
# plan and without pacing, reach and grants per day), its screenshot kept as OUT_DIR/forecast.png.
# Each browser check removes its chromium profile, after chromium exited.
# And the page of an A/B/n test (two SMS arms and a control group): its uplift charts show each
# arm with its interval (rows `abn arm A conversion_rate`, ...), screenshot OUT_DIR/report_arms.png.
set -euo pipefail
crm=$(realpath "$1") have=$2 modules=$(realpath -m "$3") outdir=$(realpath -m "$4")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
cat >ab.crm <<'EOF2'
event Visit {}
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
strategy nudge for business "shop" {
    who: exists(Visit)
    when: on Visit
    what: grant c5 via App code "N5"
    how much: budget 300 CNY
    split: control 30% salt "ab"
}
EOF2
# 200 users visit over five days; every third orders 30 CNY the day after its visit.
python3 - <<'EOF2' >events.jsonl
for i in range(200):
    print('{"id":"v%d","type":"Visit","user":"u%d","time":"2026-03-0%dT10:00:00Z"}' % (i, i, 1 + i // 40))
for i in range(0, 200, 3):
    print('{"id":"o%d","type":"Order","user":"u%d","time":"2026-03-0%dT12:00:00Z","amount":30}' % (i, i, 2 + i // 40))
EOF2
python3 - <<'EOF2' >sorted.jsonl
import json
ev = [json.loads(l) for l in open("events.jsonl")]
ev.sort(key=lambda e: e["time"])
for e in ev: print(json.dumps(e))
EOF2
"$crm" run ab.crm --events sorted.jsonl --state sqlite:s.db -q -o /dev/null 2>/dev/null || fail "run"
cat >paced.crm <<'EOF2'
event Visit {}
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
strategy nudge for business "shop" {
    who: true
    when: on Visit between 2027-03-01T00:00:00Z and 2027-03-06T00:00:00Z
    what: grant c5 via App code "N5"
    how much: budget 400 CNY, stock 120, pacing even
}
EOF2
if [ "$have" != ON ]; then
  rc=0
  "$crm" forecast paced.crm --events sorted.jsonl --shift 365d --format html -o f.html 2>ferr.txt || rc=$?
  [ $rc = 3 ] || fail "forecast without ECharts: exit $rc, want 3"
  grep -q "^crm: --format html: this crm was built without the charting library" ferr.txt || fail "message: $(cat ferr.txt)"
  [ ! -e f.html ] || fail "a forecast file was written"
  rc=0
  "$crm" report ab.crm --state sqlite:s.db --events sorted.jsonl --format html -o r.html 2>err.txt || rc=$?
  [ $rc = 3 ] || fail "without ECharts: exit $rc, want 3"
  grep -q "^crm: --format html: this crm was built without the charting library" err.txt || fail "message: $(cat err.txt)"
  [ ! -e r.html ] || fail "a file was written"
  echo "ok: a build without ECharts refuses --format html with a clear error"
  exit 0
fi
"$crm" report ab.crm --state sqlite:s.db --events sorted.jsonl --format html -o r.html 2>/dev/null || fail "report"
"$crm" report ab.crm --state sqlite:s.db --events sorted.jsonl --format json -o r.json 2>/dev/null || fail "json"
grep -q '"outcome":"rejected","reason":"budget"' r.json || fail "no budget rejections in the JSON: $(grep -o '"rejections".*' r.json)"
grep -q '"budgets":\[{"strategy":"nudge","budget":300,' r.json || fail "no budget in the JSON"
# Self-contained: the browser check fails on any network request.
grep -q 'Licensed to the Apache Software Foundation' r.html || fail "no ECharts licence"
grep -q 'BSD 3-Clause' r.html || fail "no ZRender licence"
# The per-code table: the coupon's code N5.
grep -q '<table id="codes">' r.html && grep -q '<tr><td>nudge</td><td>N5</td>' r.html || fail "no per-code table"
command -v node >/dev/null || { echo "skipped: no node"; exit 77; }
[ -d "$modules/chrome-remote-interface" ] || { echo "skipped: no chrome-remote-interface (scripts/install-deps.sh)"; exit 77; }
# The browser check in a temporary directory of this test's: its chromium profile must be gone
# when it returns (removed after chromium exited, not while it still wrote into it).
browser_check() {
  mkdir -p "$tmp/browser"
  TMPDIR=$tmp/browser NODE_PATH=$modules node "$here/check_report_html.js" "$@"
  left=$(ls -A "$tmp/browser")
  [ -z "$left" ] || fail "the browser check left behind: $left"
}
browser_check r.html "$outdir" report uplift uplift_spend
# A/B/n: 300 users visit on 1 March, the test sends at 10:00 on 3 March; every third user orders
# 20 CNY the next day, every fifth 50 CNY more.
cat >abn.crm <<'EOF2'
event Visit {}
event Order { amount: Money(CNY) }
resource sms text_a { text: "A" cost: 0.1 CNY }
resource sms text_b { text: "B" cost: 0.1 CNY }
strategy abn for business "shop" {
    who: true
    when: at 2026-03-03T10:00:00Z
    what: send text_a via SMS for arm A, send text_b via SMS for arm B
    split: control 30%, variants A 30%, B 30% salt "abn"
}
EOF2
python3 - <<'EOF2' >abn.jsonl
for i in range(300):
    print('{"id":"v%d","type":"Visit","user":"u%d","time":"2026-03-01T10:%02d:%02dZ"}' % (i, i, i // 60, i % 60))
for i in range(300):
    if i % 3 == 0 or i % 5 == 0:
        print('{"id":"o%d","type":"Order","user":"u%d","time":"2026-03-04T10:%02d:%02dZ","amount":%d}'
              % (i, i, i // 60, i % 60, 20 if i % 3 == 0 else 50))
EOF2
"$crm" run abn.crm --events abn.jsonl --state sqlite:abn.db -q -o /dev/null 2>/dev/null || fail "run abn"
"$crm" report abn.crm --state sqlite:abn.db --events abn.jsonl --format html -o abn.html 2>/dev/null || fail "report abn"
grep -q '"arm_uplifts":\[{"arm":"A"' abn.html || fail "no arm uplifts in the A/B/n page's data"
browser_check abn.html "$outdir" report_arms \
  "uplift=abn (all arms) conversion_rate|abn arm A conversion_rate|abn arm B conversion_rate|abn arm A visit_rate|abn arm B visit_rate" \
  "uplift_spend=abn (all arms) spend_per_user|abn arm A spend_per_user|abn arm B spend_per_user"
"$crm" forecast paced.crm --events sorted.jsonl --shift 365d --format html -o f.html 2>/dev/null || fail "forecast"
grep -q 'id="crm-forecast"' f.html || fail "no forecast data in the page"
grep -q 'Licensed to the Apache Software Foundation' f.html || fail "no ECharts licence in the forecast"
browser_check f.html "$outdir" forecast
