#!/usr/bin/env bash
# check_order_independence.sh CRM - issue 9 item 11 on the UCI Online Retail log: the same events
# in three orders (time order as imported, a seeded shuffle, and sorted per customer: all of one
# customer, then the next) must give the same `audience` and `explain` answers; `run` must refuse
# the per-customer file at its first late event (FILE:LINE), count skips with --on-error=skip,
# and with an allowed lateness covering the log give byte-identical decisions for all three
# orders, equal (as a set) to the time-ordered run. Exits 77 (skipped) without ../shared/data.
set -euo pipefail
CRM=$1
source "$(dirname "$0")/dataset_env.sh" uci-online-retail online_retail.csv.gz
EX="$ROOT/examples/online-retail"
"$CRM" import online-retail "$DATA/online_retail.csv.gz" -o "$TMP/time.jsonl" 2>/dev/null
shuf --random-source=<(yes) "$TMP/time.jsonl" >"$TMP/shuffled.jsonl"
# Per customer (field 3 of the imported lines is "user"), each customer's events in time order.
sort -t'"' -k12,12 -s "$TMP/time.jsonl" >"$TMP/per_user.jsonl"
fail() { echo "FAIL: $*"; exit 1; }
ORDERS=(time shuffled per_user)
[ "$(head -c 300 "$TMP/per_user.jsonl" | grep -c '"user":"12346"')" = 1 ] || fail "per-customer file not sorted by customer"

for at in 2011-06-01T00:00:00Z 2011-12-09T12:50:00Z; do
  ref=$("$CRM" audience "$EX/retail.crm" --events "$TMP/time.jsonl" --at $at --format json 2>/dev/null)
  for o in shuffled per_user; do
    got=$("$CRM" audience "$EX/retail.crm" --events "$TMP/$o.jsonl" --at $at --format json 2>/dev/null)
    [ "$got" = "$ref" ] || fail "audience at $at differs for the $o file: $got vs $ref"
  done
  echo "audience at $at: same counts for all three orders: $ref"
done

# A customer from the middle of the file and the first and last customers of the per-customer file.
users="12347 14911 17850 $(head -1 "$TMP/per_user.jsonl" | cut -d'"' -f12) $(tail -1 "$TMP/per_user.jsonl" | cut -d'"' -f12)"
for u in $users; do
  ref=$("$CRM" explain "$EX/recall.crm" "$EX/retail.crm" --events "$TMP/time.jsonl" --user "$u" --at 2011-12-09T12:50:00Z --format json 2>/dev/null)
  case "$ref" in *'"known":true'*) ;; *) fail "explain does not know user $u: $ref" ;; esac
  for o in shuffled per_user; do
    got=$("$CRM" explain "$EX/recall.crm" "$EX/retail.crm" --events "$TMP/$o.jsonl" --user "$u" --at 2011-12-09T12:50:00Z --format json 2>/dev/null)
    [ "$got" = "$ref" ] || fail "explain of $u differs for the $o file"
  done
done
echo "explain: same answers for users $users in all three orders"

"$CRM" run "$EX/recall.crm" --events "$TMP/time.jsonl" --out "$TMP/run_time.jsonl" 2>/dev/null
if "$CRM" run "$EX/recall.crm" --events "$TMP/per_user.jsonl" --out "$TMP/refused.jsonl" 2>"$TMP/refused.err"; then
  fail "run accepted the per-customer file without an allowed lateness"
fi
grep -q "^$TMP/per_user.jsonl:2: late event: " "$TMP/refused.err" || fail "no FILE:LINE late event error: $(head -3 "$TMP/refused.err")"
"$CRM" run "$EX/recall.crm" --events "$TMP/per_user.jsonl" --on-error=skip --out /dev/null 2>"$TMP/skip.err" || true
grep -q "skipped late event: " "$TMP/skip.err" || fail "late events were not counted: $(tail -2 "$TMP/skip.err")"
echo "run without lateness: refused at $(grep -m1 'late event' "$TMP/refused.err" | cut -d: -f1-2); with --on-error=skip: $(grep 'skipped late event' "$TMP/skip.err" | sed 's/^ *//')"
for o in "${ORDERS[@]}"; do
  "$CRM" run "$EX/recall.crm" --events "$TMP/$o.jsonl" --allowed-lateness 400d --out "$TMP/run_$o.late.jsonl" 2>/dev/null
done
cmp -s "$TMP/run_time.late.jsonl" "$TMP/run_shuffled.late.jsonl" || fail "run with lateness: shuffled decisions differ"
cmp -s "$TMP/run_time.late.jsonl" "$TMP/run_per_user.late.jsonl" || fail "run with lateness: per-customer decisions differ"
cmp -s <(sort "$TMP/run_time.jsonl") <(sort "$TMP/run_time.late.jsonl") || fail "run with lateness decides differently from the time-ordered run"
echo "ok: run --allowed-lateness 400d gives the same $(grep -c '"granted"' "$TMP/run_time.jsonl") grants for all three orders"
