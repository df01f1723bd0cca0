#!/usr/bin/env bash
# ledger_identity.sh CRM - `crm run --state` through the CLI: ids with NUL and control
# characters survive a restart (no second grant), an event id shaped like a scheduled run's key
# does not cancel the run, and a ledger refuses another program unless its strategies are the
# same or the change is allowed (docs/semantics.md, "Durable state").
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/p.crm" <<'EOF'
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign, stock 3 }
strategy remind { who: true  when: at 2026-01-02T00:00Z  what: grant c via Push }
EOF
cat >"$tmp/events.jsonl" <<'EOF'
{"id":"e\u0000x","type":"Order","user":"u\u0000a","time":"2026-01-01T00:00:00Z","amount":10}
{"id":"e\u0000y","type":"Order","user":"u\u0000b","time":"2026-01-01T00:00:01Z","amount":10}
{"id":"schedule:remind@1767312000000000","type":"Order","user":"u\u0001","time":"2026-01-01T00:00:02Z","amount":10}
{"id":"e3","type":"Order","user":"z","time":"2026-01-03T00:00:00Z","amount":10}
EOF
run() { "$crm" run "$@" --events "$tmp/events.jsonl" --state "sqlite:$tmp/l.db" -q; }
run "$tmp/p.crm" --out "$tmp/1.jsonl" 2>"$tmp/1.err" || fail "first run: $(cat "$tmp/1.err")"
granted() { sqlite3 "$tmp/l.db" "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted' AND strategy = '$1'"; }
[ "$(granted s)" -eq 3 ] || fail "$(granted s) grants of s, expected 3"
[ "$(granted remind)" -eq 3 ] || fail "the scheduled run granted $(granted remind), expected 3 (one per user then known)"
run "$tmp/p.crm" --out "$tmp/2.jsonl" 2>"$tmp/2.err" || fail "restart: $(cat "$tmp/2.err")"
cmp -s "$tmp/1.jsonl" "$tmp/2.jsonl" || fail "a restart on the same input reported other decisions"
[ "$(granted s)" -eq 3 ] || fail "$(granted s) grants of s after a restart, expected 3"

# Another program whose strategies are the same: continued, with a note.
{ cat "$tmp/p.crm"; echo 'segment unused = true'; } >"$tmp/same.crm"
run "$tmp/same.crm" --out /dev/null 2>"$tmp/3.err" || fail "same strategies refused: $(cat "$tmp/3.err")"
grep -q "^crm: note: .*strategies are all the same" "$tmp/3.err" || fail "no note: $(cat "$tmp/3.err")"
# A changed strategy: refused, unless allowed.
sed 's/stock 3/stock 4/' "$tmp/p.crm" >"$tmp/more.crm"
set +e
run "$tmp/more.crm" --out "$tmp/4.jsonl" 2>"$tmp/4.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "another program exited with $rc, expected 1"
grep -q "strategy \`s\` changed" "$tmp/4.err" && grep -q -- "--allow-program-change" "$tmp/4.err" ||
  fail "unclear refusal: $(cat "$tmp/4.err")"
[ ! -s "$tmp/4.jsonl" ] || fail "the refused run reported decisions"
echo '{"id":"e4","type":"Order","user":"y","time":"2026-01-04T00:00:00Z","amount":10}' >>"$tmp/events.jsonl"
run "$tmp/more.crm" --allow-program-change --out /dev/null 2>"$tmp/5.err" || fail "allowed change: $(cat "$tmp/5.err")"
grep -q "^crm: note: .*strategy \`s\` changed" "$tmp/5.err" || fail "no note: $(cat "$tmp/5.err")"
[ "$(granted s)" -eq 4 ] || fail "$(granted s) grants of s with stock 4, expected 4 (its counters carried over)"
programs=$(sqlite3 "$tmp/l.db" "SELECT count(*) FROM crm_programs")
[ "$programs" -eq 3 ] || fail "$programs programs recorded, expected 3"
echo "ok: exact ids across a restart, scheduled run kept, other programs refused or continued as documented"
