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
# shellcheck source=crash_lib.sh
. "$root/tests/state/crash_lib.sh"
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
kill_and_restart 20261122 "$kills" 300 7 "$tmp/crashy.db" "$tmp/crashy.jsonl"
run --state "sqlite:$tmp/crashy.db" --out "$tmp/crashy.jsonl" 2>/dev/null
same_as_reference "$tmp/reference.db" "$tmp/crashy.db" "$tmp/reference.jsonl" "$tmp/crashy.jsonl"
# No limit exceeded: at most one delivery per user per strategy per instant, grants as reported.
dups=$(sqlite3 "$tmp/crashy.db" "SELECT count(*) FROM (SELECT unit, user, strategy, resource, count(*) c
                                  FROM crm_ledger GROUP BY 1, 2, 3, 4 HAVING c > 1)")
[ "$dups" -eq 0 ] || { echo "FAIL: $dups duplicated grants"; exit 1; }
echo "ok: $killed SIGKILLs during replay ($units units); ledger and decisions equal an uninterrupted run"
