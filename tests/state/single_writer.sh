#!/usr/bin/env bash
# single_writer.sh CRM - real `crm run` processes on one SQLite ledger. While one runs, a second
# (with other users) is refused at attach and writes nothing, and sqlite3 still reads the ledger;
# after it, the second continues the ledger and stock holds across both (no overgrant). A
# SIGKILLed writer's lock does not block its restart.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/p.crm" <<'EOF'
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign, stock 5 }
EOF
ev() { printf '{"id":"%s-%d","type":"Order","user":"%s-%d","time":"2026-01-01T00:00:%02dZ","amount":10}\n' "$1" "$2" "$1" "$2" "$2"; }
for i in $(seq 0 9); do ev a "$i"; done >"$tmp/a.jsonl"
# Writer 2's events come after writer 1's: a run continuing a ledger refuses a new event before
# the ledger's clock as late (docs/semantics.md, "The ledger's clock").
for i in $(seq 0 9); do ev b "$i"; done | sed 's/T00:00:/T00:01:/' >"$tmp/b.jsonl"
units() { sqlite3 "$tmp/l.db" "SELECT count(*) FROM crm_units" 2>/dev/null || echo 0; }

# Writer 1 reads its events from a pipe kept open: it runs (and holds the ledger) until the
# pipe closes.
mkfifo "$tmp/feed"
"$crm" run "$tmp/p.crm" --events "$tmp/feed" --state "sqlite:$tmp/l.db" --commit-every 1 -q --out "$tmp/1.jsonl" \
  2>"$tmp/1.err" &
pid=$!
exec 3>"$tmp/feed"
head -3 "$tmp/a.jsonl" >&3
n=0
for _ in $(seq 300); do n=$(units); [ "$n" = 3 ] && break; sleep 0.1; done
[ "$n" = 3 ] || fail "a reader saw $n units of the running writer, expected 3"

set +e
"$crm" run "$tmp/p.crm" --events "$tmp/b.jsonl" --state "sqlite:$tmp/l.db" -q --out "$tmp/2.jsonl" 2>"$tmp/2.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "a second writer exited with $rc, expected 1: $(cat "$tmp/2.err")"
grep -q "in use by another crm process (pid $pid@" "$tmp/2.err" || fail "unclear refusal: $(cat "$tmp/2.err")"
[ ! -s "$tmp/2.jsonl" ] || fail "the refused writer reported decisions"
[ "$(units)" = 3 ] || fail "the refused writer changed the ledger"

tail -n +4 "$tmp/a.jsonl" >&3
exec 3>&-
wait "$pid" || fail "writer 1 failed: $(cat "$tmp/1.err")"
pid=
"$crm" run "$tmp/p.crm" --events "$tmp/b.jsonl" --state "sqlite:$tmp/l.db" -q --out "$tmp/2.jsonl" 2>"$tmp/2.err" ||
  fail "writer 2 after writer 1: $(cat "$tmp/2.err")"
granted=$(sqlite3 "$tmp/l.db" "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted'")
[ "$granted" -eq 5 ] || fail "$granted grants on stock 5"
[ "$(units)" = 20 ] || fail "$(units) units, expected 20"

# A writer killed with SIGKILL leaves its lock file behind, but not its lock.
mkfifo "$tmp/feed2"
"$crm" run "$tmp/p.crm" --events "$tmp/feed2" --state "sqlite:$tmp/l.db" -q --out /dev/null 2>/dev/null &
pid=$!
exec 3>"$tmp/feed2"
for _ in $(seq 300); do grep -q "^$pid@" "$tmp/l.db.lock" 2>/dev/null && break; sleep 0.1; done
grep -q "^$pid@" "$tmp/l.db.lock" || fail "the lock file does not name its owner"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=
exec 3>&-
"$crm" run "$tmp/p.crm" --events "$tmp/b.jsonl" --state "sqlite:$tmp/l.db" -q --out /dev/null 2>"$tmp/3.err" ||
  fail "restart after SIGKILL: $(cat "$tmp/3.err")"
echo "ok: second writer refused while the first ran, readers read, $granted grants on stock 5, restart after SIGKILL"
