#!/usr/bin/env bash
# import_checks_cli.sh CRM - `crm import` refuses what it cannot read unambiguously and says so
# with the column, the value and the file: online-retail CustomerIDs are one user per customer
# (`17850`, `17850.00`, `017850.0` alike; a sign refused); a header naming a column twice is
# refused; CDNOW's negative values are refused (its README: none); hillstrom names the column and
# value of a bad cell and the file of an empty input; usage errors name hillstrom and count files;
# a header that is not comma-separated (CDNOW_master.txt) is named as such.
# A .gz with bytes after its last member that are not gzip is refused (offset named), concatenated
# members are read. And `crm report`'s CSV writes `srm_split_from` as a plain cell; a directory as the ledger is
# named as one.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
code() { set +e; "$@" >out.txt 2>err.txt; echo $?; set -e; }
H='InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country'

printf '%s\n1,A,x,2,2011-01-01 10:00:00,1.5,17850,UK\n2,A,x,2,2011-01-01 10:00:00,1.5,17850.00,UK\n3,A,x,2,2011-01-01 10:00:00,1.5,017850.0,UK\n' "$H" >c.csv
"$crm" import online-retail c.csv -o c.jsonl 2>/dev/null || fail "customers"
[ "$(grep -c '"user":"17850"' c.jsonl)" = 3 ] || fail "one customer, three ids: $(cat c.jsonl)"
for bad in +17850.0 -17850.0; do
  printf '%s\n1,A,x,2,2011-01-01 10:00:00,1.5,%s,UK\n' "$H" "$bad" >s.csv
  [ "$(code "$crm" import online-retail s.csv)" = 1 ] && grep -q "s.csv:2: CustomerID \`$bad\` is not a whole number without a sign" err.txt ||
    fail "signed CustomerID $bad: $(cat err.txt)"
done
# Only whole numbers are CustomerIDs (digits, or digits `.` zeros): anything else was kept verbatim
# as a user id. Refused on its line naming the field, also on a row that would be skipped (a
# cancellation), and nothing is written.
for bad in .5 1e3 '"1,5"' 0x10 17850. 17850.5 1.0e4 '17 850' 17850.0.0 .0 ' .5 '; do
  printf '%s\n1,A,x,2,2011-01-01 10:00:00,1.5,17850,UK\nC2,A,x,2,2011-01-01 10:00:00,1.5,%s,UK\n' "$H" "$bad" >w.csv
  shown=${bad//\"/}
  [ "$(code "$crm" import online-retail w.csv -o w.jsonl)" = 1 ] &&
    grep -qF "w.csv:3: CustomerID \`$shown\` is not a whole number (such as \`17850\` or \`17850.0\`)" err.txt ||
    fail "CustomerID $bad: $(cat err.txt)"
  [ ! -e w.jsonl ] || fail "CustomerID $bad: an output was written"
done
# An empty one is no customer (the row skipped), as before; `+-5` is no Quantity.
printf '%s\n1,A,x,2,2011-01-01 10:00:00,1.5,,UK\n' "$H" >e.csv
"$crm" import online-retail e.csv -o e.jsonl 2>err.txt && grep -q "1 no_customer" err.txt || fail "empty CustomerID: $(cat err.txt)"
printf '%s\n1,A,x,+-5,2011-01-01 10:00:00,1.5,17850,UK\n' "$H" >q.csv
[ "$(code "$crm" import online-retail q.csv)" = 1 ] && grep -qF "q.csv:2: Quantity \`+-5\` is not an integer" err.txt ||
  fail "Quantity +-5: $(cat err.txt)"
# CDNOW's customer_id is digits (zero padding kept as written); `+-3` is no number_of_cds.
C='customer_id,date,number_of_cds,dollar_value'
for bad in 1e3 0x10 1.0 -1 +1 .5 '"1,5"' 'a1'; do
  printf '%s\n00001,1997-01-01,1,11.77\n%s,1997-01-01,1,11.77\n' "$C" "$bad" >cw.csv
  shown=${bad//\"/}
  [ "$(code "$crm" import cdnow cw.csv -o cw.jsonl)" = 1 ] &&
    grep -qF "cw.csv:3: customer_id \`$shown\` is not a whole number (digits, such as \`00001\`)" err.txt ||
    fail "customer_id $bad: $(cat err.txt)"
  [ ! -e cw.jsonl ] || fail "customer_id $bad: an output was written"
done
printf '%s\n00001,1997-01-01,+-3,5\n' "$C" >pc.csv
[ "$(code "$crm" import cdnow pc.csv)" = 1 ] && grep -qF "pc.csv:2: number_of_cds \`+-3\` is not an integer" err.txt ||
  fail "cds +-3: $(cat err.txt)"
# Hillstrom's recency is written to the profiles as a JSON number: `+5`, `.5`, `5.` were copied
# verbatim (a profile line that is not JSON); `05` is 5. A negative history is refused.
HS='recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend'
for bad in +5 .5 5. 1e1 0x5 -1 ''; do
  printf '%s\n%s,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n' "$HS" "$bad" >hr.csv
  rm -f hr.db
  [ "$(code "$crm" import hillstrom hr.csv --state sqlite:hr.db --events-out hr.jsonl --profiles-out hp.jsonl)" = 1 ] &&
    grep -qF "hr.csv:2: recency \`$bad\` is not a whole number of months" err.txt || fail "recency $bad: $(cat err.txt)"
done
printf '%s\n10,2) $100 - $200,-1,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n' "$HS" >hh.csv
[ "$(code "$crm" import hillstrom hh.csv --state sqlite:hh.db --events-out hh.jsonl)" = 1 ] &&
  grep -qF "hh.csv:2: history \`-1\` is not a non-negative amount" err.txt || fail "history -1: $(cat err.txt)"
printf '%s\n05,2) $100 - $200,.5,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n' "$HS" >h5.csv
"$crm" import hillstrom h5.csv --state sqlite:h5.db --events-out h5.jsonl --profiles-out h5p.jsonl 2>err.txt ||
  fail "recency 05: $(cat err.txt)"
grep -qF '"recency":5,"history":0.5,' h5p.jsonl && python3 -c 'import json,sys; [json.loads(l) for l in open("h5p.jsonl")]' ||
  fail "recency 05: $(cat h5p.jsonl)"

printf '%s,InvoiceNo\n1,A,x,2,2011-01-01 10:00:00,1.5,17850.0,UK,2\n' "$H" >d.csv
[ "$(code "$crm" import online-retail d.csv)" = 1 ] && grep -q "column \`InvoiceNo\` appears twice in the header" err.txt ||
  fail "duplicate column: $(cat err.txt)"
C='customer_id,date,number_of_cds,dollar_value'
printf '%s,dollar_value\n00001,1997-01-01,1,11.77,999.99\n' "$C" >dc.csv
[ "$(code "$crm" import cdnow dc.csv)" = 1 ] && grep -q "column \`dollar_value\` appears twice" err.txt || fail "cdnow dup: $(cat err.txt)"
printf '%s\n00001,1997-01-01,1,-5\n' "$C" >na.csv
[ "$(code "$crm" import cdnow na.csv)" = 1 ] && grep -q "na.csv:2: dollar_value \`-5\` is not a non-negative amount" err.txt ||
  fail "negative amount: $(cat err.txt)"
printf '%s\n00001,1997-01-01,-3,5\n' "$C" >nc.csv
[ "$(code "$crm" import cdnow nc.csv)" = 1 ] && grep -q "nc.csv:2: number_of_cds \`-3\` is not a non-negative integer" err.txt ||
  fail "negative cds: $(cat err.txt)"

HS='recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend'
printf '%s\n10,2) $100 - $200,142.44,2,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n' "$HS" >m2.csv
[ "$(code "$crm" import hillstrom m2.csv --state sqlite:m.db --events-out m.jsonl)" = 1 ] &&
  grep -q "m2.csv:2: mens \`2\` is not 0 or 1" err.txt || fail "hillstrom mens: $(cat err.txt)"
: >empty.csv
[ "$(code "$crm" import hillstrom empty.csv --state sqlite:e.db --events-out e.jsonl)" = 1 ] &&
  grep -q "empty.csv:1: empty input, expected a header line" err.txt || fail "hillstrom empty: $(cat err.txt)"
[ "$(code "$crm" import cdnow nc.csv nc.csv)" = 2 ] && grep -q "import takes one input file, not 2" err.txt ||
  fail "two inputs: $(cat err.txt)"
[ "$(code "$crm" import foo nc.csv)" = 2 ] && grep -q "use online-retail, cdnow or hillstrom" err.txt || fail "unknown: $(cat err.txt)"

# A file that is not comma-separated (CDNOW's original CDNOW_master.txt: whitespace, CRLF) is
# named as such, with the CSV to use; a comma-separated header without the column is as before.
printf ' customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n' >CDNOW_master.txt
[ "$(code "$crm" import cdnow CDNOW_master.txt)" = 1 ] &&
  grep -qF 'CDNOW_master.txt:1: missing column `customer_id`: the header `customer_id  date number_of_cds  dollar_value` is not comma-separated (columns split by spaces, tabs or `;`), and import reads CSV; CDNOW_master.txt, the data set'"'"'s original, is whitespace-separated: import its CSV form, cdnow_master.csv' err.txt ||
  fail "CDNOW_master.txt: $(cat err.txt)"
printf 'InvoiceNo\tStockCode\tQuantity\tInvoiceDate\tUnitPrice\tCustomerID\tCountry\n' >t.tsv
[ "$(code "$crm" import online-retail t.tsv)" = 1 ] &&
  grep -qF 't.tsv:1: missing column `InvoiceNo`: the header `InvoiceNo\tStockCode\tQuantity\tInvoiceDate\tUnitPrice\tC...` is not comma-separated' err.txt ||
  fail "tab-separated: $(cat err.txt)"
printf 'recency;history;mens\n' >hs.csv
[ "$(code "$crm" import hillstrom hs.csv --state sqlite:hs.db --events-out hs.jsonl)" = 1 ] &&
  grep -qF 'hs.csv:1: missing column `recency`: the header `recency;history;mens` is not comma-separated' err.txt ||
  fail "semicolons: $(cat err.txt)"
printf 'customer,date,number_of_cds,dollar_value\n' >cn.csv
[ "$(code "$crm" import cdnow cn.csv)" = 1 ] && grep -qF 'cn.csv:1: missing column `customer_id` in the header' err.txt ||
  fail "missing column: $(cat err.txt)"

# gzip: bytes after the last member that are not gzip (rows appended with >>) are refused naming
# the file and their offset, also on standard input; concatenated members are all read.
printf '%s\n00001,1997-01-01,1,11.77\n' "$C" | gzip -c >tail.csv.gz
gzsize=$(stat -c %s tail.csv.gz)
printf '00002,1997-01-02,1,12.00\n00003,1997-01-03,2,20.00\n' >>tail.csv.gz
[ "$(code "$crm" import cdnow tail.csv.gz -o tail.jsonl)" = 1 ] &&
  grep -q "^crm: \`tail.csv.gz\` is not readable gzip: 50 bytes after the end of the compressed data, from byte offset $gzsize, are not gzip" err.txt ||
  fail "trailing data: $(cat err.txt)"
[ ! -e tail.jsonl ] || fail "trailing data: an output was written"
[ "$(code "$crm" import cdnow - <tail.csv.gz)" = 1 ] && grep -q "^crm: \`standard input\` is not readable gzip: 50 bytes after" err.txt ||
  fail "trailing data on stdin: $(cat err.txt)"
[ "$(code "$crm" import hillstrom tail.csv.gz --state sqlite:t.db --events-out t.jsonl)" = 1 ] &&
  grep -q "from byte offset $gzsize, are not gzip" err.txt || fail "hillstrom trailing data: $(cat err.txt)"
printf '%s\n00001,1997-01-01,1,11.77\n' "$C" | gzip -c >multi.csv.gz
printf '00002,1997-01-02,1,12.00\n00003,1997-01-03,2,20.00\n' | gzip -c >>multi.csv.gz
"$crm" import cdnow multi.csv.gz -o multi.jsonl 2>err.txt || fail "two members: $(cat err.txt)"
[ "$(wc -l <multi.jsonl)" = 3 ] || fail "two members: $(cat multi.jsonl)"
"$crm" import cdnow - <multi.csv.gz >multi_in.jsonl 2>err.txt && cmp -s multi.jsonl multi_in.jsonl || fail "two members on stdin"

# report: CSV cells, a directory as the ledger.
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
python3 -c 'for i in range(40): print("{\"id\":\"v%d\",\"type\":\"Visit\",\"user\":\"u%d\",\"time\":\"2026-02-28T10:00:00Z\"}" % (i, i))' >ev.jsonl
"$crm" run ab.crm --events ev.jsonl --state sqlite:s.db --until 2026-03-01T11:00:00Z -q -o /dev/null 2>/dev/null || fail "run"
"$crm" report --state sqlite:s.db --events ev.jsonl --format csv >r.csv 2>/dev/null || fail "csv"
grep -q '^experiment,nudge,,,,srm_split_from,ledger$' r.csv || fail "csv srm_split_from: $(grep srm_split r.csv)"
mkdir adir
[ "$(code "$crm" report --state sqlite:adir)" = 3 ] && grep -q "cannot open state \`adir\`: it is a directory" err.txt ||
  fail "directory: $(cat err.txt)"
echo "ok"
