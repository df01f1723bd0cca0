#!/usr/bin/env bash
# full_disk.sh CRM - a ledger that fills up in the middle of `crm run` (SQLite's page limit,
# `--state sqlite:PATH?max_pages=N`, fails a commit exactly as a full disk does). The run must
# stop with a clear error naming the state, and every decision it reported must be in the
# ledger: nothing is reported that was not recorded. A restart with room to grow finishes the
# run and gives the same decisions as an uninterrupted one.
set -euo pipefail
crm=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {
  "$crm" run "$root/examples/double11.crm" --profiles "$root/examples/data/shop_profiles.csv" \
    --events "$root/examples/data/shop_events.jsonl" --commit-every 16 "$@"
}
run --state "sqlite:$tmp/reference.db" --out "$tmp/reference.jsonl" 2>/dev/null

set +e
run --state "sqlite:$tmp/state.db?max_pages=20" --out "$tmp/partial.jsonl" 2>"$tmp/err.txt"
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "FAIL: the run did not notice the full ledger"; exit 1; }
grep -q "full" "$tmp/err.txt" || { echo "FAIL: the error does not say the ledger is full:"; cat "$tmp/err.txt"; exit 1; }
grep -q "$tmp/state.db" "$tmp/err.txt" || { echo "FAIL: the error does not name the state:"; cat "$tmp/err.txt"; exit 1; }
reported=$(wc -l <"$tmp/partial.jsonl")
recorded=$(sqlite3 "$tmp/state.db" "SELECT count(*) FROM crm_ledger")
[ "$reported" -gt 0 ] || { echo "FAIL: the ledger filled up before the first commit; raise max_pages"; exit 1; }
[ "$reported" -le "$recorded" ] || { echo "FAIL: $reported decisions reported, only $recorded recorded"; exit 1; }
# Every reported line is a recorded decision, in order.
# (Schema 9 keeps a record's members twice no more: tests/state/ledger_records.py rebuilds them.)
PYTHONPATH="$(cd "$(dirname "$0")" && pwd)" python3 - "$tmp/state.db" "$tmp/partial.jsonl" "$reported" <<'PY' ||
import sys
from ledger_records import records, canonical
rows = [canonical(r) for r in records(sys.argv[1])][:int(sys.argv[3])]
sys.exit(0 if rows == [canonical(l) for l in open(sys.argv[2]).read().splitlines()] else 1)
PY
  { echo "FAIL: the reported decisions are not the recorded ones"; exit 1; }

run --state "sqlite:$tmp/state.db" --out "$tmp/resumed.jsonl" 2>/dev/null
cmp -s "$tmp/resumed.jsonl" "$tmp/reference.jsonl" || { echo "FAIL: the resumed run differs from an uninterrupted one"; exit 1; }
echo "ok: stopped at a full ledger after $reported reported decisions ($recorded recorded); resumed to the same result"
