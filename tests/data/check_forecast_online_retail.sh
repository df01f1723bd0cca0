#!/usr/bin/env bash
# check_forecast_online_retail.sh CRM - issue 14 item 5 on real data: `crm forecast` of
# tests/data/forecast_recall_2012.crm (the UCI recall with a 6,000 GBP budget and even pacing)
# over the UCI Online Retail log shifted 366 days (2011 -> 2012), against tests/forecast_check.py
# (a plain `crm run` on a history it shifts itself, with and without pacing, counted with the
# Python standard library). Exits 77 (skipped) when ../shared/data is absent.
set -euo pipefail
CRM=$(realpath "$1")
source "$(dirname "$0")/dataset_env.sh" uci-online-retail online_retail.csv.gz
fail() { echo "FAIL: $*"; exit 1; }
"$CRM" import online-retail "$DATA/online_retail.csv.gz" -o "$TMP/events.jsonl" 2>/dev/null
P="$HERE/forecast_recall_2012.crm"
"$CRM" forecast "$P" --events "$TMP/events.jsonl" --shift 366d --format json >"$TMP/f.json" 2>"$TMP/f.err" ||
  fail "forecast: $(cat "$TMP/f.err")"
python3 "$ROOT/tests/forecast_check.py" --crm "$CRM" --forecast "$TMP/f.json" --events "$TMP/events.jsonl" \
  --shift-seconds $((366 * 86400)) "$P" || fail "the forecast differs from the independent count"
# Without pacing the budget runs out before the window ends; paced, it lasts longer (or all of it).
python3 - "$TMP/f.json" <<'PY' || fail "pacing: $(head -c 600 "$TMP/f.json")"
import json, sys
s = json.load(open(sys.argv[1]))["strategies"][0]
d, u = s["declared"], s["without_pacing"]
print("paced: %d grants, budget %s, runs out %s, %d refused by pacing; without pacing: %d grants, runs out %s"
      % (d["grants"], d["budget_spent"], d["budget_runs_out"], d["rejected_pacing"], u["grants"], u["budget_runs_out"]))
assert u["budget_runs_out"] is not None and u["budget_runs_out"] < "2012-12-31"
assert d["rejected_pacing"] > 0
assert d["budget_runs_out"] is None or d["budget_runs_out"] > u["budget_runs_out"]
PY
echo "ok: the forecast over the shifted UCI log equals the independent count"
