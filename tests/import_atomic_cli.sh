#!/usr/bin/env bash
# import_atomic_cli.sh CRM - a failed `crm import` leaves its previous output as it was
# (README.md, "Files"): cdnow and online-retail `-o`, hillstrom `--events-out` and
# `--profiles-out` are written to a temporary file beside the target and renamed over it only
# when the whole input converted; `crm report -o` likewise. A good import replaces the file.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
keep='{"id":"keep","type":"Order","user":"00009","time":"1997-01-01T00:00:00Z","amount":1,"cds":1}'
unchanged() { [ "$(cat "$1")" = "$keep" ] || fail "$2: the previous $1 was changed: $(head -c 300 "$1")"; }
no_temp() { [ -z "$(ls -A | grep -v -x -F -f <(printf '%s\n' "$@"))" ] || fail "files left behind: $(ls -A)"; }

# cdnow: a bad row at line 3.
printf 'customer_id,date,number_of_cds,dollar_value\n00001,1997-01-01,1,11.77\n00002,1997-01-02,1,abc\n' >bad.csv
echo "$keep" >events.jsonl
set +e
"$crm" import cdnow bad.csv -o events.jsonl 2>err.txt; rc=$?
set -e
[ $rc = 1 ] && grep -q "bad.csv:3:" err.txt || fail "cdnow: rc $rc $(cat err.txt)"
unchanged events.jsonl cdnow
no_temp bad.csv events.jsonl err.txt
# A good import replaces it.
printf 'customer_id,date,number_of_cds,dollar_value\n00001,1997-01-01,1,11.77\n' >good.csv
"$crm" import cdnow good.csv -o events.jsonl 2>/dev/null || fail "cdnow good"
[ "$(wc -l <events.jsonl)" = 1 ] && grep -q '"user":"00001"' events.jsonl || fail "cdnow good: $(cat events.jsonl)"

# online-retail: a bad row (a price that is not a number).
printf 'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n' >or.csv
printf '536365,85123A,X,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n536366,85123A,X,6,12/1/2010 8:28,zz,17850.0,United Kingdom\n' >>or.csv
echo "$keep" >events.jsonl
set +e
"$crm" import online-retail or.csv -o events.jsonl 2>err.txt; rc=$?
set -e
[ $rc = 1 ] || fail "online-retail: rc $rc $(cat err.txt)"
unchanged events.jsonl online-retail

# hillstrom: a bad row; neither the events nor the profiles are touched.
printf 'recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n' >h.csv
printf '10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n6,x,329.08,1,1,Rural,1,Web,Nobody,0,0,0\n' >>h.csv
echo "$keep" >events.jsonl
echo "$keep" >profiles.jsonl
set +e
"$crm" import hillstrom h.csv --state sqlite:h.db --events-out events.jsonl --profiles-out profiles.jsonl 2>err.txt; rc=$?
set -e
[ $rc = 1 ] || fail "hillstrom: rc $rc $(cat err.txt)"
unchanged events.jsonl hillstrom
unchanged profiles.jsonl hillstrom

# report -o: a failed report (a malformed event line) leaves the previous report.
cat >p.crm <<'EOF2'
event Visit {}
event Order { amount: Money(USD) }
resource coupon c5 { discount: 5 USD  threshold: 20 USD }
strategy w for business "m" {
    who: true
    when: on Visit
    what: grant c5 via App
}
EOF2
printf '{"id":"v1","type":"Visit","user":"u1","time":"2026-03-01T10:00:00Z"}\n' >ev.jsonl
"$crm" run p.crm --events ev.jsonl --state sqlite:s.db -q -o /dev/null 2>/dev/null || fail "run"
"$crm" report --state sqlite:s.db --events ev.jsonl -o report.txt 2>/dev/null || fail "report"
cp report.txt before.txt
printf '{"id":"o1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":"x"}\n' >>ev.jsonl
set +e
"$crm" report --state sqlite:s.db --events ev.jsonl -o report.txt 2>/dev/null; rc=$?
set -e
[ $rc = 1 ] && cmp -s report.txt before.txt || fail "report -o: rc $rc"
echo "ok"
