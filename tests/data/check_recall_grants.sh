#!/usr/bin/env bash
# check_recall_grants.sh CRM - replays the UCI Online Retail log through
# examples/online-retail/recall.crm and compares its grants and rejections with an independent
# SQL computation over the raw CSV (online_retail_orders.sql + online_retail_recall.sql).
# Exits 77 (skipped) when ../shared/data is absent.
set -euo pipefail
CRM=$1
source "$(dirname "$0")/dataset_env.sh" uci-online-retail online_retail.csv.gz
"$CRM" import online-retail "$DATA/online_retail.csv.gz" -o "$TMP/events.jsonl" 2>/dev/null
# CRM_EVAL_FLAGS=--jit: the same decisions from the JIT's native code (ctest: *_jit).
"$CRM" run "$ROOT/examples/online-retail/recall.crm" --events "$TMP/events.jsonl" --out "$TMP/decisions.jsonl" \
  --state "sqlite:$TMP/state.db" ${CRM_EVAL_FLAGS:-} 2>/dev/null
granted=$(grep -c '"outcome":"granted"' "$TMP/decisions.jsonl" || true)
decided=$(grep -c '"outcome":"\(granted\|rejected\|control\)"' "$TMP/decisions.jsonl" || true)
expired=$(grep -c '"outcome":"expired"' "$TMP/decisions.jsonl" || true)
ledger_expired=$(sqlite3 "$TMP/state.db" "SELECT count(*) FROM crm_ledger WHERE outcome = 'expired'")
ledger=$(sqlite3 "$TMP/state.db" "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted'")
cat "$HERE/online_retail_orders.sql" "$HERE/online_retail_recall.sql" >"$TMP/recall.sql"
(cd "$DATA" && sqlite3 -batch :memory: <"$TMP/recall.sql") >"$TMP/sql.txt"
sql_qualifying=$(grep '^qualifying|' "$TMP/sql.txt" | cut -d'|' -f2)
sql_granted=$(grep '^granted|' "$TMP/sql.txt" | cut -d'|' -f2)
sql_expired=$(grep '^expired|' "$TMP/sql.txt" | cut -d'|' -f2)
printf '%-12s %10s %10s\n' "" sqlite3 crm qualifying "$sql_qualifying" "$decided" granted "$sql_granted" "$granted" \
  expired "$sql_expired" "$expired"
if [ "$sql_granted" != "$granted" ] || [ "$sql_qualifying" != "$decided" ] || [ "$ledger" != "$granted" ] ||
   [ "$sql_expired" != "$expired" ] || [ "$ledger_expired" != "$expired" ]; then
  echo "FAIL: recall grants differ (ledger holds $ledger grants, $ledger_expired expiries)"
  exit 1
fi
echo "ok: $granted grants and $expired expiries, as computed independently; the ledger records each"
