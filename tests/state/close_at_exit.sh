#!/usr/bin/env bash
# close_at_exit.sh CRM - `crm run` with a SQLite ledger leaves the engine's memory to the
# process's end (Run::close_state_and_abandon) but still closes the ledger as the destructor
# would: after the run no `-wal` or `-shm` file is left (closing the last connection checkpoints
# the WAL and removes them; a process ending with the connection open leaves both), the ledger
# holds every unit, and the next run opens it at once. With -q, with the summary, with
# --format json and with --threads 2 (which closes through the destructor).
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/p.crm" <<'EOF2'
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign, stock 50 }
EOF2
for i in $(seq 0 99); do
  printf '{"id":"e-%d","type":"Order","user":"u-%d","time":"2026-01-01T00:%02d:%02dZ","amount":10}\n' "$i" "$((i % 70))" "$((i / 60))" "$((i % 60))"
done >"$tmp/e.jsonl"

check() {  # check NAME ARGS...: one run on a new ledger, then what it left
  local name=$1; shift
  rm -f "$tmp/l.db"*
  "$crm" run "$tmp/p.crm" --events "$tmp/e.jsonl" --state "sqlite:$tmp/l.db" --commit-every 7 -o "$tmp/o.jsonl" "$@" \
    >"$tmp/out" 2>"$tmp/err" || fail "$name: exit $?: $(cat "$tmp/err")"
  [ ! -e "$tmp/l.db-wal" ] || fail "$name: the WAL was left (the connection was not closed)"
  [ ! -e "$tmp/l.db-shm" ] || fail "$name: the shared-memory file was left (the connection was not closed)"
  [ "$(sqlite3 "$tmp/l.db" 'PRAGMA integrity_check')" = ok ] || fail "$name: integrity_check"
  [ "$(sqlite3 "$tmp/l.db" 'SELECT count(*) FROM crm_units')" = 100 ] || fail "$name: units"
  [ "$(wc -l <"$tmp/o.jsonl")" -ge 100 ] || fail "$name: decisions"
  # The lock was released (and the file the next writer opens is intact): a second run replays.
  "$crm" run "$tmp/p.crm" --events "$tmp/e.jsonl" --state "sqlite:$tmp/l.db" -q -o "$tmp/o2.jsonl" "$@" 2>"$tmp/err2" ||
    fail "$name: the second run: $(cat "$tmp/err2")"
  cmp -s "$tmp/o.jsonl" "$tmp/o2.jsonl" || fail "$name: the second run decided otherwise"
  [ ! -e "$tmp/l.db-wal" ] || fail "$name: the second run left the WAL"
}
check quiet -q
check summary
check json --format json
check threads -q --threads 2
echo "close_at_exit: ok"
