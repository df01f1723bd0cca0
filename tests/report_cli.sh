#!/usr/bin/env bash
# report_cli.sh CRM - `crm report` through the command line (docs/indicators.md): an A/B test run
# by `crm run` (200 users, control 50%), its table, JSON and CSV, the sample-ratio check with the
# ledger's recorded split and with the program (and a mismatch against a program whose split says 10%), and the errors: usage (exit
# 2), a missing ledger (exit 3), a malformed event line as FILE:LINE (exit 1).
set -euo pipefail
crm=$1
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
    when: at 2026-03-01T10:00:00Z
    what: grant c5 via App code "N5"
    split: control 50% salt "ab"
}
EOF2
sed 's/control 50%/control 10%/' ab.crm >ab10.crm
# 200 users visit on 28 February; every third user orders 30 CNY on 2 March.
python3 - <<'EOF2' >events.jsonl
for i in range(200):
    print('{"id":"v%d","type":"Visit","user":"u%d","time":"2026-02-28T10:00:00Z"}' % (i, i))
for i in range(0, 200, 3):
    print('{"id":"o%d","type":"Order","user":"u%d","time":"2026-03-02T10:00:00Z","amount":30}' % (i, i))
EOF2
"$crm" run ab.crm --events events.jsonl --state sqlite:s.db -q -o decisions.jsonl 2>/dev/null
granted=$(grep -c '"outcome":"granted"' decisions.jsonl)
control=$(grep -c '"outcome":"control"' decisions.jsonl)
[ $((granted + control)) = 200 ] || fail "the run decided $granted + $control users"

"$crm" report --state sqlite:s.db --events events.jsonl >table.txt || fail "table"
grep -q "^nudge  *\* *\* *$granted " table.txt || fail "table row: $(cat table.txt)"
grep -q "^experiment nudge: $granted treated, $control control users; sample ratio ok (configured control 50.00% by the ledger," table.txt ||
  fail "experiment: $(cat table.txt)"
# The ledger spec as `crm run` takes it, with its page limit: the same ledger, the same report
# (the file was `s.db?max_pages=100000`, exit 3), through the program's checks too; a bad limit
# is a usage error (exit 2).
"$crm" report ab.crm --state "sqlite:s.db?max_pages=100000" --events events.jsonl >table_mp.txt 2>mp.err ||
  fail "report --state sqlite:s.db?max_pages=N: $(cat mp.err)"
grep -q "^nudge  *\* *\* *$granted " table_mp.txt || fail "?max_pages table row: $(cat table_mp.txt)"
set +e
"$crm" report --state "sqlite:s.db?max_pages=0" 2>mp0.err; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "max_pages must be a positive number" mp0.err || fail "?max_pages=0: exit $rc, $(cat mp0.err)"
# Without the program the configured split comes from the ledger (recorded with the program).
"$crm" report --state sqlite:s.db --events events.jsonl --format json >rl.json || fail "json without the program"
grep -q '"srm_checked":true,"configured_control_share":0.5,"srm_split_from":"ledger"' rl.json || fail "srm from the ledger: $(cat rl.json)"

"$crm" report ab.crm --state sqlite:s.db --events events.jsonl --format json >r.json || fail "json"
python3 - "$granted" "$control" <<'EOF2' || fail "json: $(cat r.json)"
import json, sys
r = json.load(open("r.json"))
t, c = int(sys.argv[1]), int(sys.argv[2])
e = r["experiments"][0]
arms = {a["arm"]: a for a in e["arms"]}
assert arms["nudge"]["users"] == t and arms["control"]["users"] == c, arms
assert e["srm_checked"] and not e["srm_mismatch"] and e["configured_control_share"] == 0.5, e
conv = [u for u in e["uplifts"] if u["metric"] == "conversion_rate"][0]
assert conv["method"] == "newcombe_wilson" and conv["absolute_low"] <= conv["absolute"] <= conv["absolute_high"], conv
spend = [u for u in e["uplifts"] if u["metric"] == "spend_per_user"][0]
assert spend["method"] == "welch", spend
assert r["indicators"][0]["granted"] == t and r["notes"] == [], r
EOF2

# Against a program that says 10% control: a sample-ratio mismatch, and a note that the strategy differs.
"$crm" report ab10.crm --state sqlite:s.db --events events.jsonl --format json >r10.json 2>r10.err || fail "json 10%"
grep -q '"srm_mismatch":true' r10.json || fail "no mismatch against 10%: $(cat r10.json)"
grep -q "note: strategy \`nudge\` of the program differs" r10.err || fail "no note: $(cat r10.err)"

"$crm" report --state sqlite:s.db --events events.jsonl --format csv >r.csv || fail "csv"
[ "$(head -1 r.csv)" = "table,strategy,channel,day,arm,metric,value" ] || fail "csv header"
grep -q "^indicators,nudge,,,,granted,$granted$" r.csv || fail "csv granted"
grep -q "^arm,nudge,,,control,users,$control$" r.csv || fail "csv control users"
# Per code: the coupon's code N5, as many grants as the strategy.
grep -q "^code,nudge,,,N5,granted,$granted$" r.csv || fail "csv code row"
grep -q '"codes":\[$' r.json && grep -q "^{\"strategy\":\"nudge\",\"code\":\"N5\",\"granted\":$granted," r.json ||
  fail "json code row: $(grep -A1 '"codes"' r.json)"
grep -q "^nudge  *N5  *$granted " table.txt || fail "table code row: $(cat table.txt)"

# Errors.
set +e
"$crm" report --events events.jsonl 2>e1.txt; rc1=$?
"$crm" report --state sqlite:s.db --window 0d 2>e2.txt; rc2=$?
"$crm" report --state memory 2>e3.txt; rc3=$?
"$crm" report --state sqlite:nosuch/s.db 2>e4.txt; rc4=$?
{ head -2 events.jsonl; echo '{"id":"o9","type":"Order","user":"u1","time":"2026-03-02T10:00:00Z"}'; } >bad.jsonl
"$crm" report --state sqlite:s.db --events bad.jsonl 2>e5.txt; rc5=$?
set -e
[ $rc1 = 2 ] && grep -q "report needs --state" e1.txt || fail "no --state: $rc1 $(cat e1.txt)"
[ $rc2 = 2 ] && grep -q "is not a duration" e2.txt || fail "bad window: $rc2 $(cat e2.txt)"
[ $rc3 = 2 ] && grep -q "a report reads a SQLite ledger" e3.txt || fail "memory: $rc3 $(cat e3.txt)"
[ $rc4 = 3 ] && grep -q "cannot open state" e4.txt || fail "missing ledger: $rc4 $(cat e4.txt)"
[ $rc5 = 1 ] && grep -q "^crm: bad.jsonl:3: an Order needs \`amount\`$" e5.txt || fail "bad line: $rc5 $(cat e5.txt)"
# Sums of money past int64 millionths: an error naming the events, not a wrapped negative sales figure.
cat >ov.crm <<'CRM'
event Order { amount: Money(CNY) }
event Visit { page: String = "" }
resource coupon c1 { discount: 1 CNY }
strategy s { who: true  when: on Visit  what: grant c1 via App  how much: budget 100 CNY }
CRM
cat >ov.jsonl <<'JSONL'
{"id":"v1","type":"Visit","user":"u1","time":"2026-01-01T00:00:00Z"}
{"id":"o1","type":"Order","user":"u1","time":"2026-01-01T01:00:00Z","amount":5000000000000}
{"id":"o2","type":"Order","user":"u1","time":"2026-01-01T02:00:00Z","amount":5000000000000}
JSONL
"$crm" run ov.crm --events ov.jsonl --state sqlite:ov.db -q -o /dev/null || fail "run ov"
set +e
"$crm" report --state sqlite:ov.db --events ov.jsonl --format json >ov.json 2>e6.txt; rc6=$?
set -e
[ $rc6 = 1 ] && grep -q "a sum of money in the report (sales, spend, subsidy or cost) exceeds the largest amount it holds exactly" e6.txt &&
  grep -q "amounts in ov.jsonl" e6.txt || fail "money overflow: $rc6 $(cat e6.txt ov.json | head -c 600)"
# A UTF-8 byte order mark at the start of the events is not data, as for `crm run` (report
# refused it: "expected \`{\`").
printf '\xef\xbb\xbf' >bom.jsonl
cat events.jsonl >>bom.jsonl
"$crm" report --state sqlite:s.db --events bom.jsonl --format json >bom.json 2>bom.err || fail "a byte order mark: $(cat bom.err)"
"$crm" report --state sqlite:s.db --events events.jsonl --format json >nobom.json || fail "json again"
cmp -s bom.json nobom.json || fail "a byte order mark changed the report"
echo "ok: crm report tables, JSON, CSV, sample-ratio check and errors"
