#!/usr/bin/env bash
# foreign_ledger.sh CRM - every command that opens a ledger refuses another application's SQLite
# database named as one (tables, none of them crm's), with exit 2 and a message naming the file as
# not a crm ledger, and leaves it byte for byte as it was, with nothing made beside it (no
# `.lock`, `-wal`, `-shm`): `crm run` used to add crm's tables to it. A rollback-journal and a WAL
# database alike. A new path, an empty file and a database without tables still become a ledger,
# and a ledger crm recorded still opens.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
code() { set +e; "$@" >out.txt 2>err.txt; echo $?; set -e; }

cat >p.crm <<'EOF2'
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign }
EOF2
printf '{"id":"o1","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":10}\n' >e.jsonl
H='recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend'
printf '%s\n10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n' "$H" >h.csv

# Another application's databases: a rollback journal one and a WAL one (closed cleanly).
python3 - <<'EOF2'
import sqlite3
for name, wal in (("app.db", False), ("walapp.db", True)):
    c = sqlite3.connect(name)
    if wal:
        c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    c.execute("INSERT INTO customers (name) VALUES ('ann')")
    c.execute("CREATE VIEW names AS SELECT name FROM customers")
    c.commit()
    c.close()
EOF2
refused() {  # refused DB WHAT CMD...: exit 2, the message, the file untouched, nothing beside it
  local db=$1 what=$2
  shift 2
  cp "$db" before.db
  : >out.txt
  : >err.txt
  local before
  before=$(ls -A | sort)
  [ "$(code "$@")" = 2 ] || fail "$what on $db: exit $(code "$@"): $(cat err.txt)"
  grep -qF "state \`$tmp/$db\` is not a crm ledger: it is a SQLite database of another application (it holds \`customers\`, \`names\`)" err.txt ||
    fail "$what on $db: message: $(cat err.txt)"
  cmp -s "$db" before.db || fail "$what changed $db"
  [ "$(ls -A | sort)" = "$before" ] || fail "$what left files beside $db: $(ls -A)"
  rm before.db
}
for db in app.db walapp.db; do
  refused "$db" run "$crm" run p.crm --events e.jsonl --state "sqlite:$tmp/$db" -o d.jsonl
  refused "$db" "run --threads 2" "$crm" run p.crm --events e.jsonl --state "sqlite:$tmp/$db" --threads 2 -o d.jsonl
  refused "$db" "run ?max_pages" "$crm" run p.crm --events e.jsonl --state "sqlite:$tmp/$db?max_pages=100" -o d.jsonl
  refused "$db" report "$crm" report p.crm --state "sqlite:$tmp/$db"
  refused "$db" "import hillstrom" "$crm" import hillstrom h.csv --state "sqlite:$tmp/$db" --events-out hev.jsonl
  refused "$db" "shared reconcile" "$crm" shared reconcile --shared redis://127.0.0.1:1 --state "sqlite:$tmp/$db"
  refused "$db" "shared show" "$crm" shared show --shared redis://127.0.0.1:1 --state "sqlite:$tmp/$db"
done
[ ! -e d.jsonl ] && [ ! -e hev.jsonl ] || fail "an output was written for a refused ledger"

# What still becomes a ledger: a new path, an empty file, a database without tables.
: >empty.db
python3 -c 'import sqlite3; c = sqlite3.connect("bare.db"); c.execute("VACUUM"); c.close()'
for db in new.db empty.db bare.db; do
  [ "$(code "$crm" run p.crm --events e.jsonl --state "sqlite:$tmp/$db" -q -o d.jsonl)" = 0 ] ||
    fail "$db: $(cat err.txt)"
  grep -q '"outcome":"granted"' d.jsonl || fail "$db: no decision: $(cat d.jsonl)"
  # And it opens again as the ledger it now is (the event answered from it).
  [ "$(code "$crm" run p.crm --events e.jsonl --state "sqlite:$tmp/$db" -q -o d2.jsonl)" = 0 ] ||
    fail "$db again: $(cat err.txt)"
  [ "$(code "$crm" report p.crm --state "sqlite:$tmp/$db")" = 0 ] || fail "$db report: $(cat err.txt)"
done
# A ledger with a table of the operator's own added is still crm's ledger.
sqlite3_add='import sqlite3; c = sqlite3.connect("new.db"); c.execute("CREATE TABLE notes (x)"); c.commit(); c.close()'
python3 -c "$sqlite3_add"
[ "$(code "$crm" run p.crm --events e.jsonl --state "sqlite:$tmp/new.db" -q -o d.jsonl)" = 0 ] ||
  fail "ledger with an extra table: $(cat err.txt)"
echo ok
