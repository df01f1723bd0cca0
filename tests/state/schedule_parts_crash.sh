#!/usr/bin/env bash
# schedule_parts_crash.sh CRM - a scheduled instant over more users than one part
# (Engine::kUsersPerPart, 16,384; docs/semantics.md "Scheduled runs in parts") across crashes:
# `crm run --state sqlite:...` of examples/online-retail/retail.crm over 40,000 customers is
# SIGKILLed in the middle of the weekly instants (after a part was recorded and before its
# commit, or after a committed part), restarted on the same input each time; the final ledger and
# decisions must equal an uninterrupted run's: no customer of an instant decided twice, none
# skipped.
set -euo pipefail
crm=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=crash_lib.sh
. "$root/tests/state/crash_lib.sh"
program="$root/examples/online-retail/retail.crm"

# 40,000 customers order once in the first days of December 2010 (silent by January, within 120
# days); three later orders move the clock over the weekly instants of 1, 8 and 15 January.
users=40000
python3 - "$users" >"$tmp/events.jsonl" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    s = i * 4 * 86400 // n
    print('{"id":"e%d","type":"Order","user":"c%d","time":"2010-12-%02dT%02d:%02d:%02dZ","amount":%d.50,"items":2,"country":"%s"}'
          % (i, i, 1 + s // 86400, s % 86400 // 3600, s % 3600 // 60, s % 60, 10 + i % 90, "France" if i % 10 == 0 else "United Kingdom"))
for k, day in enumerate((3, 10, 17)):
    print('{"id":"late%d","type":"Order","user":"c%d","time":"2011-01-%02dT00:00:00Z","amount":20.00,"items":1,"country":"United Kingdom"}' % (k, k, day))
PY

run() {
  "$crm" run "$program" --events "$tmp/events.jsonl" "$@"
}
ledger() {
  sqlite3 "$1" "SELECT unit, kind, user, strategy, outcome, reason, resource, channel, code, amount, at, json FROM crm_ledger ORDER BY seq"
}

run --state "sqlite:$tmp/reference.db" --out "$tmp/reference.jsonl" 2>/dev/null
counts=$(sqlite3 "$tmp/reference.db" "SELECT (SELECT count(*) FROM crm_units WHERE kind = 1 AND unit LIKE '%#%'),
  sum(strategy = 'winback_silent' AND outcome = 'granted'), sum(strategy = 'winback_silent' AND reason = 'budget'),
  sum(strategy = 'winback_silent' AND reason = 'per_user_limit') FROM crm_ledger")
IFS='|' read -r parts granted budget capped <<<"$counts"
[ "$parts" -ge 6 ] && [ "$granted" -gt 100 ] && [ "$budget" -gt 1000 ] && [ "$capped" -gt 100 ] ||
  { echo "FAIL: the reference run recorded $parts parts, $granted grants, $budget budget and $capped per-user refusals"; exit 1; }

# Units decided by each run before its kill (CRM_TEST_KILL_AFTER_UNITS is checked after a part is
# recorded, before its commit, and after each event): the first run commits every 1,000 units and
# is killed at the first part of the first instant (40,000 events were committed); each restart
# commits every unit and decides only what is not in the ledger yet, so the small counts fall
# inside and between the instants: parts committed, parts lost, the last part lost with the event
# after it.
killed=0
commit=1000
for n in 40001 2 3 3 4 4 5; do
  set +e
  CRM_TEST_KILL_AFTER_UNITS=$n run --state "sqlite:$tmp/crashy.db" --commit-every $commit -o "$tmp/killed.jsonl" >/dev/null 2>&1
  rc=$?
  set -e
  if [ "$rc" -eq 137 ]; then killed=$((killed + 1))
  elif [ "$rc" -ne 0 ]; then echo "FAIL: a run exited with $rc"; exit 1; fi
  commit=1
  echo "killed at $n: $(sqlite3 "$tmp/crashy.db" "SELECT count(*) FROM crm_units WHERE kind = 1") scheduled units recorded" >>"$tmp/kills.log"
done
cat "$tmp/kills.log"
[ "$killed" -ge 5 ] || { echo "FAIL: only $killed runs were killed"; exit 1; }
run --state "sqlite:$tmp/crashy.db" --out "$tmp/crashy.jsonl" 2>/dev/null
same_as_reference "$tmp/reference.db" "$tmp/crashy.db" "$tmp/reference.jsonl" "$tmp/crashy.jsonl"
twice=$(sqlite3 "$tmp/crashy.db" "SELECT count(*) FROM (SELECT user, at FROM crm_ledger WHERE strategy = 'winback_silent'
                                  AND outcome IN ('granted', 'rejected', 'control') GROUP BY 1, 2 HAVING count(*) > 1)")
[ "$twice" -eq 0 ] || { echo "FAIL: $twice customers decided twice at one instant"; exit 1; }
# Without a ledger, and with parts: the same lines.
run -q -o "$tmp/plain.jsonl"
cmp -s "$tmp/plain.jsonl" "$tmp/reference.jsonl" || { echo "FAIL: the run without a ledger differs"; exit 1; }
echo "ok: $killed SIGKILLs inside instants of $users customers ($parts parts); ledger and decisions as uninterrupted"
