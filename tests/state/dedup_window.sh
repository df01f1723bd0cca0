#!/usr/bin/env bash
# dedup_window.sh CRM - `crm run --dedup-window` (docs/semantics.md, "Event order"): a retried
# event id within the window of the watermark is answered from the ledger, also by a restarted
# process; beyond it the retry is refused as late, says so, and changes nothing; bad values are
# usage errors naming the option.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/p.crm" <<'CRM'
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: true  when: on Order  what: grant c via App  how much: per user 2 per campaign, stock 5 }
CRM
ev() { printf '{"id":"%s","type":"Order","user":"%s","time":"2026-01-01T%sZ","amount":10}\n' "$1" "$2" "$3"; }
# e1 is retried three hours late (the allowed lateness is 0).
{ ev e1 a 00:00:00; ev e2 b 03:00:00; ev e1 a 00:00:00; ev e3 a 03:01:00; } >"$tmp/in.jsonl"
run() { "$crm" run "$tmp/p.crm" --events "$tmp/in.jsonl" "$@"; }
grants() { sqlite3 "$1" "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted'"; }

# Within the window (4h, and the default 7d): the retry gets e1's recorded decision again.
for w in 4h ""; do
  rm -f "$tmp"/l.db*
  run --state "sqlite:$tmp/l.db" ${w:+--dedup-window "$w"} -q -o "$tmp/out.jsonl"
  [ "$(grep -c '"event":"e1"' "$tmp/out.jsonl")" -eq 2 ] || fail "window ${w:-default}: the retry was not answered"
  [ "$(sed -n 1p "$tmp/out.jsonl")" = "$(sed -n 3p "$tmp/out.jsonl")" ] || fail "window ${w:-default}: another answer"
  [ "$(grants "$tmp/l.db")" -eq 3 ] || fail "window ${w:-default}: $(grants "$tmp/l.db") grants, not 3"
done
# A restarted process on the same input, then the retry: answered from the ledger, nothing added.
rm -f "$tmp"/l.db*
head -2 "$tmp/in.jsonl" >"$tmp/first.jsonl"
"$crm" run "$tmp/p.crm" --events "$tmp/first.jsonl" --state "sqlite:$tmp/l.db" --dedup-window 4h -q -o "$tmp/1.jsonl"
run --state "sqlite:$tmp/l.db" --dedup-window 4h -q -o "$tmp/2.jsonl"
[ "$(sed -n 1p "$tmp/2.jsonl")" = "$(sed -n 3p "$tmp/2.jsonl")" ] || fail "after a restart the retry was not answered"
[ "$(grants "$tmp/l.db")" -eq 3 ] || fail "after a restart: $(grants "$tmp/l.db") grants, not 3"

# Beyond the window (1h): refused as late, with the window in the message; nothing changes.
rm -f "$tmp"/l.db*
if run --state "sqlite:$tmp/l.db" --dedup-window 1h -q -o "$tmp/out.jsonl" 2>"$tmp/err"; then
  fail "a retry beyond the window was accepted"
fi
grep -q 'in.jsonl:3: late event: 2026-01-01T00:00:00Z is before the watermark 2026-01-01T03:00:00Z' "$tmp/err" ||
  fail "no late-event error at line 3: $(cat "$tmp/err")"
grep -q 'older than the dedup window 1 hour (events before 2026-01-01T02:00:00Z)' "$tmp/err" ||
  fail "the message does not name the dedup window: $(cat "$tmp/err")"
rm -f "$tmp"/l.db*
run --state "sqlite:$tmp/l.db" --dedup-window 1h --on-error=skip -o "$tmp/out.jsonl" 2>"$tmp/err"
grep -q 'skipped late event: 1' "$tmp/err" || fail "the retry was not skipped as late: $(cat "$tmp/err")"
[ "$(grep -c '"event":"e1"' "$tmp/out.jsonl")" -eq 1 ] || fail "beyond the window e1 was reported twice"
# a's limit is 2 per campaign: e3 is a's second grant, so the refused retry counted for nothing.
grep -q '"event":"e3","user":"a","strategy":"s","outcome":"granted"' "$tmp/out.jsonl" || fail "e3 was not granted"
[ "$(grants "$tmp/l.db")" -eq 3 ] || fail "beyond the window: $(grants "$tmp/l.db") grants, not 3"

# The same with two worker threads: each worker's index has the same window.
rm -f "$tmp"/l.db*
run --state "sqlite:$tmp/l.db" --threads 2 --dedup-window 1h --on-error=skip -o "$tmp/out.jsonl" 2>"$tmp/err"
grep -q 'skipped late event: 1' "$tmp/err" || fail "--threads 2: the retry was not skipped as late: $(cat "$tmp/err")"
grep -q 'older than the dedup window 1 hour' "$tmp/err" || fail "--threads 2: no dedup-window message: $(cat "$tmp/err")"
rm -f "$tmp"/l.db*
run --state "sqlite:$tmp/l.db" --threads 2 -q -o "$tmp/out.jsonl"
[ "$(grep -c '"event":"e1"' "$tmp/out.jsonl")" -eq 2 ] || fail "--threads 2, default window: the retry was not answered"

# Bad values: usage errors (exit 2) naming the option and the value; `forever` is accepted.
for bad in 7x -1d 1.5h 999999999d; do
  set +e
  run --dedup-window "$bad" -q -o /dev/null 2>"$tmp/err"
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "--dedup-window '$bad' exited $rc, not 2"
  grep -q -- "--dedup-window" "$tmp/err" || fail "--dedup-window '$bad': the error does not name the option: $(cat "$tmp/err")"
done
rm -f "$tmp"/l.db*
run --state "sqlite:$tmp/l.db" --dedup-window forever -q -o "$tmp/out.jsonl"
[ "$(grep -c '"event":"e1"' "$tmp/out.jsonl")" -eq 2 ] || fail "forever: the retry was not answered"
echo "ok: retries within the window answered (also after a restart), beyond it refused as late; bad values refused"
