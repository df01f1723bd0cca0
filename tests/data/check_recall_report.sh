#!/usr/bin/env bash
# check_recall_report.sh CRM - issue 14 item 1 on real data: `crm report --format csv` over the
# ledger of examples/online-retail/recall.crm replayed on the UCI Online Retail log, against an
# independent SQL computation over the raw CSV (online_retail_orders.sql, online_retail_recall.sql
# for the grants, online_retail_recall_report.sql for the indicators): reached users, users who
# ordered within 14 days of a grant, those orders and their sales, new and silent users and the
# silent-user recall rate. Exits 77 (skipped) when ../shared/data is absent.
set -euo pipefail
CRM=$(realpath "$1")
source "$(dirname "$0")/dataset_env.sh" uci-online-retail online_retail.csv.gz
"$CRM" import online-retail "$DATA/online_retail.csv.gz" -o "$TMP/events.jsonl" 2>/dev/null
"$CRM" run "$ROOT/examples/online-retail/recall.crm" --events "$TMP/events.jsonl" -q -o /dev/null \
  --state "sqlite:$TMP/state.db" 2>/dev/null
"$CRM" report --state "sqlite:$TMP/state.db" --events "$TMP/events.jsonl" --format csv --window 14d --silent 30d \
  >"$TMP/report.csv"
cat "$HERE/online_retail_orders.sql" "$HERE/online_retail_recall.sql" "$HERE/online_retail_recall_report.sql" >"$TMP/q.sql"
(cd "$DATA" && sqlite3 -batch :memory: <"$TMP/q.sql") >"$TMP/sql.txt"
sql() { grep "^$1|" "$TMP/sql.txt" | cut -d'|' -f2; }
crm() { grep "^indicators,recall,,,,$1," "$TMP/report.csv" | cut -d, -f7; }
status=0
printf '%-16s %12s %12s\n' "" sqlite3 crm
for name in reached converted orders_after new_customers silent recalled; do
  printf '%-16s %12s %12s\n' "$name" "$(sql $name)" "$(crm $name)"
  [ "$(sql $name)" = "$(crm $name)" ] || status=1
done
# Sales: crm prints exact GBP, SQL sums thousandths.
sales_crm=$(crm sales_after)
sales_sql=$(sql sales_after_milli)
sales_crm_milli=$(python3 -c "from decimal import Decimal; print(int(Decimal('$sales_crm') * 1000))")
printf '%-16s %12s %12s\n' "sales_after" "$sales_sql" "$sales_crm_milli"
[ "$sales_sql" = "$sales_crm_milli" ] || status=1
# The recall rate is the ratio of the two counts.
rate=$(crm recall_rate)
want=$(python3 -c "print($(sql recalled) / $(sql silent))")
python3 -c "import sys; sys.exit(0 if abs($rate - $want) < 1e-12 else 1)" || { echo "recall_rate $rate, want $want"; status=1; }
[ "$(crm visited)" = "$(crm converted)" ] || { echo "without Visit events, visited must equal converted"; status=1; }
if [ $status -ne 0 ]; then
  echo "FAIL: crm report differs from the independent SQL"
  exit 1
fi
echo "ok: recall.crm's report equals the independent SQL (recall rate $rate)"
