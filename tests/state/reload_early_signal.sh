#!/usr/bin/env bash
# reload_early_signal.sh CRM - a SIGHUP sent to `crm run --reload-on SIGHUP` while it is still
# reading its program (before the first event) is a reload request like any other: the process
# goes on, and reads the program again before the first event (docs/semantics.md, "Hot reload").
# The program file is a fifo, so crm waits in its open() until the test writes it: the signal
# arrives at a known point, before the program is compiled and the ledger opened. (Before the fix,
# the handler was installed after both, and SIGHUP's default action ended the process.)
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$tmp/err.txt" ] && sed 's/^/  stderr: /' "$tmp/err.txt" | head -40
  exit 1
}

cat >"$tmp/v1.crm" <<'EOT'
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY }
strategy welcome { who: true  when: on Order  what: grant c10 via App }
EOT
cat >"$tmp/v2.crm" <<'EOT'
event Order { amount: Money(CNY) }
resource coupon c20 { discount: 20 CNY }
strategy later { who: true  when: on Order  what: grant c20 via App }
EOT
for i in 0 1 2 3 4; do
  printf '{"id":"e%d","type":"Order","user":"u%d","time":"2026-01-01T00:00:0%dZ","amount":"30"}\n' "$i" "$i" "$i"
done >"$tmp/events.jsonl"

mkfifo "$tmp/p.crm"
"$crm" run "$tmp/p.crm" --events "$tmp/events.jsonl" --state "sqlite:$tmp/l.db" --reload-on SIGHUP \
  --allow-program-change --out "$tmp/out.jsonl" 2>"$tmp/err.txt" &
pid=$!
# Wait until crm blocks opening the program fifo (no writer yet); where /proc/PID/wchan does
# not name the wait, a second is plenty for a process to get there.
for _ in $(seq 100); do
  [ "$(cat /proc/$pid/wchan 2>/dev/null || true)" = wait_for_partner ] && break
  sleep 0.01
done
[ "$(cat /proc/$pid/wchan 2>/dev/null || true)" = wait_for_partner ] || sleep 1
kill -HUP "$pid"
sleep 0.3
if ! kill -0 "$pid" 2>/dev/null; then
  set +e
  wait "$pid"
  rc=$?
  set -e
  pid=
  fail "crm run ended (exit status $rc) on a SIGHUP sent while it read its program"
fi
# The first read: v1. The signal was queued: crm reads the program again before the first
# event, and gets v2 (the writer waits for that second open; timeout if it never comes).
cat "$tmp/v1.crm" >"$tmp/p.crm"
timeout 20 sh -c 'cat "$1" >"$2"' sh "$tmp/v2.crm" "$tmp/p.crm" || fail "crm did not read the program again (the early SIGHUP was lost)"
set +e
wait "$pid"
rc=$?
set -e
pid=
[ "$rc" -eq 0 ] || fail "crm run exited with $rc"
grep -q '^crm: note: reloaded the program before .*events.jsonl:1 ' "$tmp/err.txt" || fail "no reload before the first event"
python3 - "$tmp/out.jsonl" <<'EOT' || fail "decisions"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
got = sorted((d["event"], d["strategy"], d["outcome"]) for d in out)
want = [("e%d" % i, "later", "granted") for i in range(5)]
if got != want:
    print("decisions:", got)
    sys.exit(1)
EOT
echo "ok: an early SIGHUP is a reload queued before the first event; 5 events decided by the reloaded program"
