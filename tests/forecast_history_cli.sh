#!/usr/bin/env bash
# forecast_history_cli.sh CRM - `crm forecast` reads the history as `crm run` reads a stream
# (docs/indicators.md, "Forecast"): a retried event id within the dedup window is replayed once
# (as a run with a ledger decides it once; noted), a year typo is refused at its own line by the
# --max-time-jump guard (same default and message as `crm run`), and a bare-date `time` is
# midnight UTC as in the event contract.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
total() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["strategies"][0]; print(s["declared"][sys.argv[2]])' "$@"; }

cat >ord.crm <<'EOF2'
event Order { amount: Money(USD) }
resource coupon c5 { discount: 5 USD  threshold: 20 USD }
strategy thanks for business "m" {
    who: true
    when: on Order
    what: grant c5 via App
    how much: budget 100 USD
}
EOF2
cat >retry.jsonl <<'EOF2'
{"id":"o1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":50}
{"id":"o1","type":"Order","user":"u1","time":"2026-03-01T11:00:00Z","amount":50}
{"id":"o2","type":"Order","user":"u2","time":"2026-03-01T12:00:00Z","amount":50}
EOF2
"$crm" run ord.crm --events retry.jsonl --state sqlite:r.db -q -o /dev/null 2>/dev/null || fail "run"
ran=$(python3 -c 'import sqlite3; print(sqlite3.connect("r.db").execute("select count(*) from crm_ledger where outcome=\"granted\"").fetchone()[0])')
[ "$ran" = 2 ] || fail "the run with a ledger granted $ran"
"$crm" forecast ord.crm --events retry.jsonl --shift 1d --format json >f.json 2>err.txt || fail "forecast: $(cat err.txt)"
[ "$(total f.json grants)" = 2 ] || fail "a retried id replayed twice: $(cat f.json)"
[ "$(total f.json budget_spent)" = 10 ] || fail "budget burned twice by a retry: $(cat f.json)"
grep -q "1 line repeated an event id met within the dedup window (7 days): replayed once" err.txt || fail "no note: $(cat err.txt)"
# --dedup-window 0: an id is forgotten as soon as the clock passes it; the same instant is still a retry.
"$crm" forecast ord.crm --events retry.jsonl --shift 1d --dedup-window 0 --format json >f0.json 2>/dev/null || fail "window 0"
[ "$(total f0.json grants)" = 2 ] || fail "--dedup-window 0: $(cat f0.json)"
set +e
"$crm" forecast ord.crm --events retry.jsonl --shift 1d --dedup-window x >/dev/null 2>err.txt; rc=$?
set -e
[ $rc = 2 ] || fail "bad --dedup-window: rc $rc $(cat err.txt)"

# A year typo: refused at its own line, as `crm run` refuses it (exit 1, FILE:LINE).
printf '%s\n' '{"id":"a","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":30}' \
  '{"id":"b","type":"Order","user":"u2","time":"2062-01-02T00:00:00Z","amount":30}' \
  '{"id":"c","type":"Order","user":"u3","time":"2026-01-03T00:00:00Z","amount":30}' >typo.jsonl
set +e
"$crm" forecast ord.crm --events typo.jsonl --shift 365d --format json >/dev/null 2>err.txt; rc=$?
set -e
[ $rc = 1 ] || fail "a year typo forecast: rc $rc $(cat err.txt)"
grep -q "^crm: typo.jsonl:2: too far ahead: .*--max-time-jump" err.txt || fail "typo message: $(cat err.txt)"
# Raised (or 0: no limit), the jump is taken as the run would take it.
"$crm" forecast ord.crm --events typo.jsonl --shift 365d --max-time-jump 0 --allowed-lateness 36500d --format json \
  >/dev/null 2>err.txt || fail "--max-time-jump 0: $(cat err.txt)"
set +e
"$crm" forecast ord.crm --events typo.jsonl --shift 365d --max-time-jump -3d >/dev/null 2>err.txt; rc=$?
set -e
[ $rc = 2 ] || fail "bad --max-time-jump: rc $rc $(cat err.txt)"

# Bare dates: midnight UTC (docs/runtime.md), read as `crm run` reads them.
printf '%s\n' '{"id":"a","type":"Order","user":"u1","time":"2026-03-02","amount":30}' >dates.jsonl
"$crm" forecast ord.crm --events dates.jsonl --shift 1d --format json >d.json 2>err.txt || fail "bare date: $(cat err.txt)"
grep -q '"day":"2026-03-03"' d.json || fail "bare date: $(cat d.json)"
# A `time` that is a string but no time is named as such.
printf '%s\n' '{"id":"a","type":"Order","user":"u1","time":"soon","amount":30}' >bad.jsonl
set +e
"$crm" forecast ord.crm --events bad.jsonl --shift 1d >/dev/null 2>err.txt; rc=$?
set -e
[ $rc = 1 ] && grep -q 'bad.jsonl:1: `time` `soon` is not an ISO-8601 time' err.txt || fail "bad time: rc $rc $(cat err.txt)"
echo "ok"
