#!/usr/bin/env bash
# report_ledger_cli.sh CRM - `crm report` checks the ledger as `crm run` does (docs/semantics.md,
# "Errors", "Ledger schema"): a ledger of a schema version this crm does not read is refused with
# `crm run`'s message (exit 1); a row whose `at` is out of the years 0001-9999, whose `amount`
# is not an integer of at least 0, whose `sales` is not an integer (or a unit whose `first_seq` or
# `at` crm could not have written) stops the report naming the row (exit 1), and `crm run` refuses
# the same ledger by the same rule without changing it; a recorded split crm could not have
# written leaves the sample-ratio check out with a note.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$@"; }

cat >ab.crm <<'EOF2'
event Visit {}
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
strategy nudge for business "shop" {
    who: exists(Visit)
    when: at 2026-03-01T10:00:00Z
    what: grant c5 via App code "N5"
    split: control 50% salt "ab"
}
EOF2
python3 - <<'EOF2' >events.jsonl
for i in range(40):
    print('{"id":"v%d","type":"Visit","user":"u%d","time":"2026-02-28T10:00:00Z"}' % (i, i))
EOF2
"$crm" run ab.crm --events events.jsonl --state sqlite:s.db --until 2026-03-01T11:00:00Z -q -o /dev/null 2>/dev/null || fail "run"
"$crm" report --state sqlite:s.db --events events.jsonl >/dev/null 2>&1 || fail "the good ledger"
refused() {  # DB WHAT PATTERN: the report of DB exits 1 with PATTERN on stderr
  set +e
  "$crm" report --state "sqlite:$1" --events events.jsonl >/dev/null 2>err.txt
  local rc=$?
  set -e
  [ $rc = 1 ] && grep -q -- "$3" err.txt || fail "$2: rc $rc: $(cat err.txt)"
}

# A newer schema version: refused, with the message of `crm run`.
cp s.db v.db
sql v.db "update crm_meta set value='99' where key='schema_version'"
refused v.db "schema 99" "state \`v.db\` has ledger schema version 99, this crm reads versions 1 to 9"
set +e
"$crm" run ab.crm --events events.jsonl --state sqlite:v.db --until 2026-03-01T11:00:00Z -q -o /dev/null 2>run.txt; rc=$?
set -e
[ $rc = 1 ] && grep -q "has ledger schema version 99, this crm reads versions 1 to 9" run.txt || fail "run: $(cat run.txt)"

# Numbers crm never writes.
cp s.db a.db
sql a.db "update crm_ledger set at=9223372036854775807 where seq=(select min(seq) from crm_ledger)"
refused a.db "at out of range" "ledger row [0-9]* has at \`9223372036854775807\`, which crm never writes"
cp s.db b.db
sql b.db "update crm_ledger set amount='abc' where seq=(select min(seq) from crm_ledger)"
refused b.db "text amount" "ledger row [0-9]* has amount \`abc\`, which crm never writes"
cp s.db c.db
sql c.db "update crm_ledger set sales=1.5 where seq=(select min(seq) from crm_ledger)"
refused c.db "real sales" "ledger row [0-9]* has sales \`1.5\`, which crm never writes"

# `crm run` opens each of those ledgers with the same rule and refuses it (exit 1, the row, the
# column and the value named) without writing to it: before, it read a text, REAL or negative
# amount as a number and rebuilt the budget from it, and went on to overspend.
dump() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(list(c.iterdump()))' "$1" | md5sum; }
run_refused() {  # DB WHAT PATTERN: `crm run` on DB exits 1 with PATTERN, the ledger unchanged
  local before; before=$(dump "$1")
  set +e
  "$crm" run ab.crm --events events.jsonl --state "sqlite:$1" --until 2026-03-02T00:00:00Z -q -o out.jsonl 2>run.txt
  local rc=$?
  set -e
  [ $rc = 1 ] && grep -q -- "$3" run.txt || fail "run, $2: rc $rc: $(cat run.txt)"
  [ ! -s out.jsonl ] || fail "run, $2: decided $(cat out.jsonl)"
  [ "$(dump "$1")" = "$before" ] || fail "run, $2: the ledger changed"
}
run_refused a.db "at out of range" "ledger row [0-9]* has at \`9223372036854775807\`, which crm never writes"
run_refused b.db "text amount" "ledger row [0-9]* has amount \`abc\`, which crm never writes"
run_refused c.db "real sales" "ledger row [0-9]* has sales \`1.5\`, which crm never writes"
n=0
for change in "amount=2.5" "amount=-5000000" "granted_at='x'"; do
  n=$((n + 1))
  cp s.db "n$n.db"
  sql "n$n.db" "update crm_ledger set $change where seq=(select min(seq) from crm_ledger where outcome='granted')"
  column=${change%%=*}
  value=${change#*=}
  value=${value//\'/}
  refused "n$n.db" "$change" "ledger row [0-9]* has $column \`$value\`, which crm never writes"
  run_refused "n$n.db" "$change" "ledger row [0-9]* has $column \`$value\`, which crm never writes"
done
for change in "first_seq='one'" "first_seq=0" "at=1.5"; do
  n=$((n + 1))
  cp s.db "n$n.db"
  sql "n$n.db" "update crm_units set $change where seq=(select min(seq) from crm_units where first_seq is not null)"
  column=${change%%=*}
  value=${change#*=}
  value=${value//\'/}
  refused "n$n.db" "$change" "unit row [0-9]* has $column \`$value\`, which crm never writes"
  run_refused "n$n.db" "$change" "unit row [0-9]* has $column \`$value\`, which crm never writes"
done

# A recorded split that does not parse: no check, and a note (not a silent srm_checked false).
cp s.db d.db
sql d.db "update crm_strategies set split='control:abc'"
"$crm" report --state sqlite:d.db --events events.jsonl --format json >d.json 2>/dev/null || fail "bad split"
python3 - <<'EOF2' || fail "bad split: $(cat d.json)"
import json
r = json.load(open("d.json"))
e = r["experiments"][0]
assert e["srm_checked"] is False, e
assert any("recorded split `control:abc` is not one crm writes" in n for n in r["notes"]), r["notes"]
EOF2
# Given the program, the check is made against it.
"$crm" report ab.crm --state sqlite:d.db --events events.jsonl --format json >p.json 2>/dev/null || fail "bad split, program"
grep -q '"srm_checked":true' p.json || fail "with the program: $(cat p.json)"
echo "ok"
