#!/usr/bin/env bash
# report_events_cli.sh CRM - `crm report` reads the event log as `crm run` with a ledger does
# (docs/indicators.md, "The event log"): a retried event id within the dedup window counts once
# (ids of every line, of any type and user, remembered as run remembers them),
# a line `crm run` refuses for its `id` is not counted (both noted), a bare-date `time` is
# midnight UTC as in the event contract, and a log that matches nothing says so in a note.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["indicators"][0][sys.argv[2]])' "$@"; }
notes() { python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["notes"]))' "$1"; }

cat >p.crm <<'EOF2'
event Visit {}
event Order { amount: Money(USD) }
resource coupon c5 { discount: 5 USD  threshold: 20 USD }
strategy welcome for business "m" {
    who: true
    when: on Visit
    what: grant c5 via App code "W5"
    how much: per user 1 per campaign
}
EOF2
# A visit, an order and its retry (same id): `crm run` with a ledger decides the order once.
cat >retry.jsonl <<'EOF2'
{"id":"v1","type":"Visit","user":"u1","time":"2026-03-01T10:00:00Z"}
{"id":"o1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":50}
{"id":"o1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":50}
EOF2
"$crm" run p.crm --events retry.jsonl --state sqlite:s.db -q -o /dev/null 2>/dev/null || fail "run"
"$crm" report --state sqlite:s.db --events retry.jsonl --format json >r.json 2>/dev/null || fail "report"
[ "$(field r.json orders_after)" = 1 ] || fail "a retried order counted twice: $(cat r.json)"
[ "$(field r.json sales_after)" = 50 ] || fail "a retried order's sales counted twice: $(cat r.json)"
notes r.json | grep -q "1 Visit or Order line repeated an event id met within the dedup window (7 days): counted once" ||
  fail "no note of the retry: $(notes r.json)"
# `crm run` remembers the id of every event it takes, of any type and user: an order of u1 whose
# id an order of u2 (no decision in the ledger) or a Click (a type the report does not count)
# had just before is a retry that run answered and never counted (the report counted both).
sed 's/^event Order/event Click {}\nevent Order/' p.crm >pc.crm
cat >other.jsonl <<'EOF2'
{"id":"v1","type":"Visit","user":"u1","time":"2026-03-01T10:00:00Z"}
{"id":"x1","type":"Order","user":"u2","time":"2026-03-01T10:30:00Z","amount":30}
{"id":"c1","type":"Click","user":"u3","time":"2026-03-01T10:40:00Z"}
{"id":"x1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":50}
{"id":"c1","type":"Order","user":"u1","time":"2026-03-01T11:10:00Z","amount":70}
{"id":"o3","type":"Order","user":"u1","time":"2026-03-01T11:20:00Z","amount":20}
EOF2
"$crm" run pc.crm --events other.jsonl --state sqlite:o.db --format json -o /dev/null 2>run.json || fail "run other: $(cat run.json)"
grep -q '"events":4' run.json || fail "run: the two retries were decided: $(cat run.json)"
"$crm" report --state sqlite:o.db --events other.jsonl --format json >o.json 2>/dev/null || fail "report other"
[ "$(field o.json orders_after)" = 1 ] && [ "$(field o.json sales_after)" = 20 ] ||
  fail "orders repeating ids of an undecided user or another type counted: $(cat o.json)"
notes o.json | grep -q "2 Visit or Order lines repeated an event id met within the dedup window" ||
  fail "no note of the two retries: $(notes o.json)"
# The same id once the clock is past the dedup window is a new event (run decides it again):
# counted. (The clock is the latest time of the lines before: here u2's visit moves it.)
printf '%s\n' '{"id":"o1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":50}' \
  '{"id":"v9","type":"Visit","user":"u2","time":"2026-03-10T10:00:00Z"}' \
  '{"id":"o1","type":"Order","user":"u1","time":"2026-03-10T11:00:00Z","amount":20}' >reuse.jsonl
"$crm" report --state sqlite:s.db --events reuse.jsonl --window 30d --format json >reuse.json 2>/dev/null || fail "reuse"
[ "$(field reuse.json orders_after)" = 2 ] || fail "an id reused after the window: $(cat reuse.json)"
"$crm" report --state sqlite:s.db --events reuse.jsonl --window 30d --dedup-window forever --format json >fe.json 2>/dev/null ||
  fail "--dedup-window forever"
[ "$(field fe.json orders_after)" = 1 ] || fail "--dedup-window forever: $(cat fe.json)"
set +e
"$crm" report --state sqlite:s.db --events reuse.jsonl --dedup-window 7x >/dev/null 2>err.txt; rc=$?
set -e
[ $rc = 2 ] && grep -q -- "--dedup-window takes a duration" err.txt || fail "bad --dedup-window: rc $rc $(cat err.txt)"

# Orders without an id, or with an empty one, are refused by `crm run`: not counted here.
printf '%s\n' '{"id":"v1","type":"Visit","user":"u1","time":"2026-03-01T10:00:00Z"}' \
  '{"type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":5}' \
  '{"id":"","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":7}' >noid.jsonl
"$crm" report --state sqlite:s.db --events noid.jsonl --format json >n.json 2>/dev/null || fail "no id"
[ "$(field n.json orders_after)" = 0 ] || fail "orders without an id counted: $(cat n.json)"
notes n.json | grep -q "2 Visit or Order lines without a non-empty string \`id\`, which \`crm run\` refuses: not counted" ||
  fail "no note of the lines without an id: $(notes n.json)"

# Bare dates are midnight UTC (docs/runtime.md), as `crm run` reads them.
printf '%s\n' '{"id":"v1","type":"Visit","user":"u1","time":"2026-03-02"}' \
  '{"id":"o1","type":"Order","user":"u1","time":"2026-03-03","amount":50}' >dates.jsonl
"$crm" run p.crm --events dates.jsonl --state sqlite:d.db -q -o /dev/null 2>/dev/null || fail "run on bare dates"
"$crm" report --state sqlite:d.db --events dates.jsonl --format json >d.json 2>err.txt || fail "bare dates: $(cat err.txt)"
[ "$(field d.json sales_after)" = 50 ] || fail "bare dates: $(cat d.json)"

# A log with no line of the visit/order types, or none of a decided user: said, not a null result.
"$crm" report --state sqlite:s.db --events retry.jsonl --visit-type visit --order-type order --format json >t.json 2>/dev/null ||
  fail "type typo"
notes t.json | grep -q "no event of the types \`visit\` or \`order\`" || fail "type typo: no note: $(notes t.json)"
sed 's/"u1"/"someone"/' retry.jsonl >other.jsonl
"$crm" report --state sqlite:s.db --events other.jsonl --format json >o.json 2>/dev/null || fail "other log"
notes o.json | grep -q "is of a user the ledger decided about" || fail "another log: no note: $(notes o.json)"
"$crm" report --state sqlite:s.db --events retry.jsonl >table.txt 2>/dev/null || fail "table"
grep -q "counted once" table.txt || fail "the table does not show the note: $(cat table.txt)"
echo "ok"
