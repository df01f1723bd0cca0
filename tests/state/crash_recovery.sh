#!/usr/bin/env bash
# crash_recovery.sh CRM [KILLS] - kills `crm run --state sqlite:...` with SIGKILL at KILLS random
# points (default 20) of a replay, restarting it on the same input each time, then checks that
# the final ledger and decisions equal those of an uninterrupted run: no grant lost, none
# duplicated, no limit exceeded. Uses the bundled Double-11 demo data (no ../shared needed).
set -euo pipefail
crm=$1
kills=${2:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {
  "$crm" run "$root/examples/double11.crm" --profiles "$root/examples/data/shop_profiles.csv" \
    --events "$root/examples/data/shop_events.jsonl" "$@"
}
ledger() {
  sqlite3 "$1" "SELECT unit, user, strategy, outcome, reason, resource, channel, code, amount, at, json
                FROM crm_ledger ORDER BY seq"
}

run --state "sqlite:$tmp/reference.db" --out "$tmp/reference.jsonl" 2>/dev/null
units=$(sqlite3 "$tmp/reference.db" "SELECT count(*) FROM crm_units")
[ "$units" -gt 100 ] || { echo "FAIL: reference run recorded only $units units"; exit 1; }

# Kill points: deterministic pseudo-random numbers of units to decide before dying.
RANDOM=20261122
killed=0
for _ in $(seq "$kills"); do
  n=$((1 + RANDOM % 300))
  set +e
  CRM_TEST_KILL_AFTER_UNITS=$n run --state "sqlite:$tmp/crashy.db" --out "$tmp/crashy.jsonl" --commit-every 7 \
    >/dev/null 2>&1
  rc=$?
  set -e
  if [ "$rc" -eq 137 ]; then
    killed=$((killed + 1))
  elif [ "$rc" -ne 0 ]; then
    echo "FAIL: run exited with $rc"
    exit 1
  fi
done
run --state "sqlite:$tmp/crashy.db" --out "$tmp/crashy.jsonl" 2>/dev/null

if ! diff <(ledger "$tmp/reference.db") <(ledger "$tmp/crashy.db") >"$tmp/ledger.diff"; then
  echo "FAIL: the ledger after $killed crashes differs from an uninterrupted run:"
  head -20 "$tmp/ledger.diff"
  exit 1
fi
if ! cmp -s "$tmp/reference.jsonl" "$tmp/crashy.jsonl"; then
  echo "FAIL: reported decisions differ after $killed crashes"
  exit 1
fi
# No limit exceeded: at most one delivery per user per strategy per instant, grants as reported.
dups=$(sqlite3 "$tmp/crashy.db" "SELECT count(*) FROM (SELECT unit, user, strategy, resource, count(*) c
                                  FROM crm_ledger GROUP BY 1, 2, 3, 4 HAVING c > 1)")
[ "$dups" -eq 0 ] || { echo "FAIL: $dups duplicated grants"; exit 1; }
echo "ok: $killed SIGKILLs during replay ($units units); ledger and decisions equal an uninterrupted run"
