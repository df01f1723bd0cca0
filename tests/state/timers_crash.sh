#!/usr/bin/env bash
# timers_crash.sh CRM [KILLS] - delayed triggers across crashes: `crm run --state sqlite:...` of a
# program with `after 2 hours unless Pay where order_id == event.order_id` is SIGKILLed at KILLS
# pseudo-random points (timers armed, cancelled and fired in the groups lost or kept), restarted
# on the same input each time; the final ledger and decisions must equal an uninterrupted run:
# no timer lost, none fired twice, none fired after its cancellation.
set -euo pipefail
crm=$1
kills=${2:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=crash_lib.sh
. "$root/tests/state/crash_lib.sh"
program="$root/tests/golden/run/delayed_trigger.crm"

# 300 users: a visit, an unpaid order a minute later; a third pay it 30 minutes later (cancels),
# a third 150 minutes later (after the timer fired), a third never; every other user orders again
# 200 minutes later. Sorted by time, then id.
awk 'function t(m) { return sprintf("2026-11-%02dT%02d:%02d:00Z", 12 + int(m / 1440), int(m % 1440 / 60), m % 60) }
BEGIN {
  for (u = 0; u < 300; u++) {
    b = u * 4;
    printf "%s\t{\"id\":\"v%d\",\"type\":\"Visit\",\"user\":\"u%d\",\"time\":\"%s\"}\n", t(b), u, u, t(b);
    printf "%s\t{\"id\":\"o%d\",\"type\":\"Order\",\"user\":\"u%d\",\"time\":\"%s\",\"order_id\":\"O%d\",\"paid\":false,\"amount\":30}\n", t(b + 1), u, u, t(b + 1), u;
    if (u % 3 < 2) printf "%s\t{\"id\":\"p%d\",\"type\":\"Pay\",\"user\":\"u%d\",\"time\":\"%s\",\"order_id\":\"O%d\"}\n", t(b + 1 + (u % 3 ? 150 : 30)), u, u, t(b + 1 + (u % 3 ? 150 : 30)), u;
    if (u % 2 == 0) printf "%s\t{\"id\":\"q%d\",\"type\":\"Order\",\"user\":\"u%d\",\"time\":\"%s\",\"order_id\":\"Q%d\",\"paid\":false,\"amount\":30}\n", t(b + 200), u, u, t(b + 200), u;
  }
}' | LC_ALL=C sort -t "$(printf '\t')" -k1,1 -s | cut -f2- >"$tmp/events.jsonl"

run() {
  "$crm" run "$program" --events "$tmp/events.jsonl" --until 2026-11-14T00:00:00Z "$@"
}
ledger() {
  sqlite3 "$1" "SELECT unit, kind, user, strategy, outcome, reason, resource, channel, code, amount, at, granted_at, json,
                timer FROM crm_ledger ORDER BY seq"
}

run --state "sqlite:$tmp/reference.db" --out "$tmp/reference.jsonl" 2>/dev/null
counts=$(sqlite3 "$tmp/reference.db" "SELECT sum(outcome = 'pending'), sum(outcome = 'cancelled'),
                                       (SELECT count(*) FROM crm_units WHERE kind = 2) FROM crm_ledger")
IFS='|' read -r armed cancelled fired <<<"$counts"
[ "$armed" -gt 100 ] && [ "$cancelled" -gt 10 ] && [ "$fired" -gt 10 ] ||
  { echo "FAIL: the reference run armed $armed, cancelled $cancelled, fired $fired timers"; exit 1; }
[ $((cancelled + fired)) -eq "$armed" ] || { echo "FAIL: $armed armed but $cancelled cancelled + $fired fired"; exit 1; }

# ~1,300 units in all: the kills spread over the whole run.
kill_and_restart 20261130 "$kills" 130 7 "$tmp/crashy.db" "$tmp/crashy.jsonl"
run --state "sqlite:$tmp/crashy.db" --out "$tmp/crashy.jsonl" 2>/dev/null
same_as_reference "$tmp/reference.db" "$tmp/crashy.db" "$tmp/reference.jsonl" "$tmp/crashy.jsonl"
twice=$(sqlite3 "$tmp/crashy.db" "SELECT count(*) FROM (SELECT unit FROM crm_units WHERE kind = 2 GROUP BY 1 HAVING count(*) > 1)")
[ "$twice" -eq 0 ] || { echo "FAIL: $twice timers fired twice"; exit 1; }
echo "ok: $killed SIGKILLs; $armed timers armed, $cancelled cancelled, $fired fired, as in an uninterrupted run"
