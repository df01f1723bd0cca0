#!/usr/bin/env bash
# forecast_cli.sh CRM ROOT - `crm forecast` through the command line (docs/indicators.md,
# "Forecast"), checked against forecast_check.py (a plain `crm run` on a history the script
# shifts itself, counted per strategy and day with the Python standard library):
#   - examples/forecast_double11_2027.crm over the demo shop's 2026 log shifted 365 days (a
#     paced strategy, so the replay without pacing too; a budget and a stock that run out);
#   - the bundled examples/double11.crm over the same log, not shifted;
#   - days in the strategies' zones: a copy of the 2027 example with `zone "Asia/Shanghai"` and
#     one strategy in America/New_York, its per-day rows on those local calendars;
#   - --shift-to gives the same forecast as the equivalent --shift; table and CSV agree with JSON;
#   - no ledger is touched: --state is refused (exit 2) and the file is left byte for byte;
#   - errors: a bad event line as FILE:LINE (exit 1), usage (exit 2).
set -euo pipefail
crm=$(realpath "$1")
ROOT=$(realpath "$2")
HERE="$ROOT/tests"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
events="$ROOT/examples/data/shop_events.jsonl"
profiles="$ROOT/examples/data/shop_profiles.csv"
p27="$ROOT/examples/forecast_double11_2027.crm"

"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 365d --format json \
  >f27.json 2>f27.err || fail "forecast: $(cat f27.err)"
python3 "$HERE/forecast_check.py" --crm "$crm" --forecast f27.json --events "$events" --profiles "$profiles" \
  --shift-seconds 31536000 -I "$ROOT/examples" "$p27" || fail "double11_2027 differs from the independent count"
# What the example is for: pacing refuses early visitors, the cashback budget and the
# follow-up stock run out on the day; without pacing the pre-sale budget runs out earlier.
python3 - <<'EOF' || fail "the example's story: $(head -c 2000 f27.json)"
import json
f = {s["strategy"]: s for s in json.load(open("f27.json"))["strategies"]}
pre, cash, follow = f["d11_presale"], f["d11_cashback"], f["d11_followup"]
assert pre["paced"] and pre["declared"]["rejected_pacing"] > 0, pre["declared"]
assert pre["without_pacing"]["rejected_pacing"] == 0
assert pre["without_pacing"]["budget_runs_out"] is not None
assert pre["declared"]["budget_runs_out"] is None or pre["declared"]["budget_runs_out"] > pre["without_pacing"]["budget_runs_out"]
assert cash["declared"]["budget_runs_out"] == "2027-11-11", cash["declared"]["budget_runs_out"]
assert follow["declared"]["stock_runs_out"] is not None and follow["declared"]["deliveries"] == 60
EOF

# The bundled Double-11 example on its own log, not shifted.
"$crm" forecast "$ROOT/examples/double11.crm" -I "$ROOT/examples" --events "$events" --profiles "$profiles" \
  --shift 0d --format json >d11.json 2>d11.err || fail "double11: $(cat d11.err)"
python3 "$HERE/forecast_check.py" --crm "$crm" --forecast d11.json --events "$events" --profiles "$profiles" \
  --shift-seconds 0 -I "$ROOT/examples" "$ROOT/examples/double11.crm" || fail "double11 differs from the independent count"

# Days in the strategies' zones: the program's default zone Asia/Shanghai, and d11_followup in
# America/New_York. The independent count buckets each decision by the same local calendar
# (zoneinfo). The cashback's window is Shanghai's 11 November: all its grants fall on that one
# local day, where the UTC count above spreads them over 10 and 11 November.
sed -e 's|^import shop.schema$|import shop.schema\nzone "Asia/Shanghai"|' \
    -e 's|^    priority: 6$|    priority: 6\n    zone: "America/New_York"|' "$p27" >zoned.crm
grep -q '^zone "Asia/Shanghai"' zoned.crm && grep -q 'zone: "America/New_York"' zoned.crm || fail "the zoned copy: $(cat zoned.crm)"
"$crm" forecast zoned.crm -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 365d --format json \
  >zoned.json 2>zoned.err || fail "forecast zoned: $(cat zoned.err)"
python3 "$HERE/forecast_check.py" --crm "$crm" --forecast zoned.json --events "$events" --profiles "$profiles" \
  --shift-seconds 31536000 -I "$ROOT/examples" zoned.crm || fail "the zoned program differs from the independent count"
python3 - <<'EOF' || fail "zoned days: $(head -c 3000 zoned.json)"
import json
z = {s["strategy"]: s for s in json.load(open("zoned.json"))["strategies"]}
u = {s["strategy"]: s for s in json.load(open("f27.json"))["strategies"]}
assert z["d11_presale"]["zone"] == "Asia/Shanghai" and z["d11_followup"]["zone"] == "America/New_York", z
assert u["d11_cashback"]["zone"] == "UTC"
days = lambda s: {d["day"]: d["grants"] for d in s["declared"]["days"] if d["grants"]}
assert list(days(z["d11_cashback"])) == ["2027-11-11"], days(z["d11_cashback"])
assert len(days(u["d11_cashback"])) == 2, days(u["d11_cashback"])
assert sum(days(z["d11_cashback"]).values()) == sum(days(u["d11_cashback"]).values())
EOF
"$crm" forecast zoned.crm -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 365d >zoned.txt ||
  fail "zoned table"
grep -q "^d11_followup: per day (America/New_York)" zoned.txt || fail "zoned table: $(cat zoned.txt)"
grep -q "^days are local days of: d11_presale Asia/Shanghai, d11_cashback Asia/Shanghai, d11_followup America/New_York" \
  zoned.txt || fail "zoned table: $(cat zoned.txt)"

# --shift-to: the first event (2025-11-10) moved to 2026-11-10 is the same 365 days.
# Budget pools: the A/B test example, and a copy whose pool holds 0.20 CNY (four SMS), so the
# pool runs out and refuses the rest (reason pool_budget), counted per pool by the script too.
ab="$ROOT/examples/ab_test_then_rollout.crm"
sed 's/budget 10000 CNY/budget 0.2 CNY/' "$ab" >ab_small.crm
grep -q "budget 0.2 CNY" ab_small.crm || fail "the example's pool is no longer 10000 CNY: update this test"
for prog in "$ab" ab_small.crm; do
  "$crm" forecast "$prog" -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 0d --format json \
    >pools.json 2>pools.err || fail "forecast $prog: $(cat pools.err)"
  python3 "$HERE/forecast_check.py" --crm "$crm" --forecast pools.json --events "$events" --profiles "$profiles" \
    --shift-seconds 0 -I "$ROOT/examples" "$prog" || fail "$prog differs from the independent count"
done
python3 - <<'EOF' || fail "the small test pool: $(head -c 3000 pools.json)"
import json
p = {x["pool"]: x for x in json.load(open("pools.json"))["pools"]}
t = p["d11_sms"]
assert t["strategies"] == ["ab_test"], t["strategies"]
assert t["declared"]["budget_spent"] == 0.2, t["declared"]["budget_spent"]
assert t["declared"]["rejected_budget"] > 0 and t["declared"]["budget_runs_out"] is not None, t["declared"]
EOF

"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift-to 2026-11-10 --format json \
  >to.json 2>/dev/null || fail "--shift-to"
cmp -s f27.json to.json || fail "--shift-to 2026-11-10 differs from --shift 365d"

# Table and CSV: the same numbers.
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 365d >table.txt ||
  fail "table"
grep -q "^d11_presale  *paced " table.txt || fail "table: $(cat table.txt)"
grep -q "^d11_presale  *without pacing " table.txt || fail "table: no replay without pacing"
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 365d --format csv \
  >f.csv || fail "csv"
[ "$(head -1 f.csv)" = "replay,strategy,day,metric,value" ] || fail "csv header"
python3 - <<'EOF' || fail "csv differs from json"
import csv, json
f = {s["strategy"]: s for s in json.load(open("f27.json"))["strategies"]}
n = 0
for r in csv.DictReader(open("f.csv")):
    run = f[r["strategy"]][r["replay"]]
    if r["metric"] == "zone":  # the strategy's, on each of its runs
        run = f[r["strategy"]]
    if r["day"]:
        run = [d for d in run["days"] if d["day"] == r["day"]][0]
    want = run[r["metric"]]
    want = "" if want is None else str(want)
    assert r["value"] == want, (r, want)
    n += 1
assert n > 1000, n
EOF

# No ledger is touched: --state is refused, and the file stays as it was.
"$crm" run "$ROOT/tests/golden/run/pacing.crm" --events "$ROOT/tests/golden/run/pacing.events.jsonl" --state sqlite:l.db \
  -q -o /dev/null
before=$(sha256sum l.db)
set +e
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --shift 365d --state sqlite:l.db >/dev/null 2>e1.txt; rc1=$?
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --shift 365d --state memory >/dev/null 2>e2.txt; rc2=$?
{ head -3 "$events"; echo '{"id":"x","type":"Order","user":"u1","time":"yesterday"}'; } >bad.jsonl
"$crm" forecast "$p27" -I "$ROOT/examples" --events bad.jsonl --shift 365d >/dev/null 2>e3.txt; rc3=$?
"$crm" forecast "$p27" -I "$ROOT/examples" --shift 365d >/dev/null 2>e4.txt; rc4=$?
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --shift 1y >/dev/null 2>e5.txt; rc5=$?
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --shift 1d --shift-to 2026-01-01 >/dev/null 2>e6.txt; rc6=$?
# A history with a gap of more than a year: the run's --max-time-jump guard (default 366d) names
# the line, as `crm run` does; a quiet year that is data is replayed with --max-time-jump 0.
python3 - "$events" >gap.jsonl <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
print("\n".join(lines))
last = json.loads(lines[-1])
last["id"] = last["id"] + "-two-years-later"
last["time"] = str(int(last["time"][:4]) + 2) + last["time"][4:]
print(json.dumps(last))
PY
"$crm" forecast "$p27" -I "$ROOT/examples" --events gap.jsonl --shift 365d --format json >/dev/null 2>gap.err; rcg=$?
[ $rcg = 1 ] && grep -q "gap.jsonl:$(wc -l <gap.jsonl | tr -d ' '): too far ahead: .*--max-time-jump" gap.err ||
  fail "a two-year gap without --max-time-jump 0: rc $rcg $(cat gap.err)"
"$crm" forecast "$p27" -I "$ROOT/examples" --events gap.jsonl --shift 365d --max-time-jump 0 --format json >gap.json 2>gap.err ||
  fail "a history with a two-year gap: $(cat gap.err)"
# A shift past year 9999 is the shift's fault: the message says so (it used to blame the line's time).
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --shift 3000000d >/dev/null 2>e7.txt; rc7=$?
set -e
[ "$(sha256sum l.db)" = "$before" ] || fail "the ledger changed"
[ ! -e l.db-wal ] || [ ! -s l.db-wal ] || fail "the ledger has a write-ahead log"
[ $rc1 = 2 ] && grep -q "never opens a ledger" e1.txt || fail "--state: $rc1 $(cat e1.txt)"
[ $rc2 = 2 ] || fail "--state memory: $rc2"
[ $rc3 = 1 ] && grep -q "^crm: bad.jsonl:4: " e3.txt || fail "bad line: $rc3 $(cat e3.txt)"
[ $rc4 = 2 ] && grep -q "needs --events" e4.txt || fail "no events: $rc4 $(cat e4.txt)"
[ $rc5 = 2 ] && grep -q "is not a duration" e5.txt || fail "bad shift: $rc5 $(cat e5.txt)"
[ $rc6 = 2 ] || fail "both shifts: $rc6"
[ $rc7 = 1 ] && grep -q ":1: the shift moves \`time\` .* out of the years 0001-9999 an event time may have (to the year [0-9]*) (a shift of 3000000 days)$" e7.txt ||
  fail "a shift out of range: $rc7 $(cat e7.txt)"
# Backwards past year 1: the year as a number (it read "(to 0000-11-26...)" or "-001-...").
set +e
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --shift=-740000d >/dev/null 2>e8.txt; rc8=$?
set -e
[ $rc8 = 1 ] && grep -q "out of the years 0001-9999 an event time may have (to the year -[0-9]*)" e8.txt ||
  fail "a shift before year 1: $rc8 $(cat e8.txt)"
# The events are read as `crm run` reads them: a UTF-8 byte order mark at the start is not data
# (forecast refused it: "expected \`{\`"); a line of spaces is malformed, as in run.
printf '\xef\xbb\xbf' >bom.jsonl
cat "$events" >>bom.jsonl
"$crm" forecast "$p27" -I "$ROOT/examples" --events "$events" --profiles "$profiles" --shift 365d --format json >nobom.json ||
  fail "forecast without a BOM"
"$crm" forecast "$p27" -I "$ROOT/examples" --events bom.jsonl --profiles "$profiles" --shift 365d --format json >bom.json 2>bom.err ||
  fail "forecast with a byte order mark: $(cat bom.err)"
cmp -s nobom.json bom.json || fail "a byte order mark changed the forecast"
{ head -3 "$events"; echo "   "; } >spaces.jsonl
set +e
"$crm" forecast "$p27" -I "$ROOT/examples" --events spaces.jsonl --shift 365d >/dev/null 2>e9.txt; rc9=$?
"$crm" run "$p27" -I "$ROOT/examples" --events spaces.jsonl -q -o /dev/null 2>e9run.txt; rc9run=$?
set -e
[ $rc9 = 1 ] && [ $rc9run = 1 ] && grep -q "spaces.jsonl:4: " e9.txt || fail "a line of spaces: forecast $rc9 run $rc9run $(cat e9.txt e9run.txt)"
# An error's columns are the user's line's, as `crm run` gives them, not the shifted line's
# (written again without the blank space, times moved): a member given twice, after blank space.
cat >dup.crm <<'EOF2'
event Order { amount: Money(CNY), note: String }
resource coupon c10 { discount: 10 CNY }
strategy s { who: true  when: on Order  what: grant c10 via App }
EOF2
echo '{"id":"b",   "type":"Order",  "user":"u1","time":"2026-01-01T00:00:01Z",  "amount":"3", "note":"x",  "amount":"4"}' >dup.jsonl
set +e
"$crm" forecast dup.crm --events dup.jsonl --shift 1d >/dev/null 2>e10.txt; rc10=$?
"$crm" run dup.crm --events dup.jsonl -q -o /dev/null 2>e10run.txt
set -e
want='dup.jsonl:1: column 102: member `amount` appears twice (first at column 75)'
[ $rc10 = 1 ] && grep -qF "crm: $want" e10.txt && grep -qF "$want" e10run.txt ||
  fail "columns of a shifted line: forecast $rc10 $(cat e10.txt); run $(cat e10run.txt)"
echo "ok: crm forecast JSON, table, CSV against the independent count; no ledger touched; errors"
