#!/usr/bin/env bash
# crash.sh CRM [KILLS] - `crm run --threads 2 --state sqlite:...` killed with SIGKILL at KILLS
# pseudo-random points (default 12; the kill comes while the workers decide a batch and the
# writer commits another), restarted on the same input each time (issue 9's guarantee with
# threads): every decision ever reported is in the final ledger (reported only once durable),
# every event is decided exactly once, the restarted run reports exactly the ledger, no limit is
# exceeded, and the ledger has the rows of an uninterrupted run (the same events, users and
# strategies; `loyal` and `unpaid`, which no shared limit binds, identical).
set -euo pipefail
crm=$1
kills=${2:-12}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../state/crash_lib.sh
. "$here/../state/crash_lib.sh"
python3 "$here/gen.py" 300 4000 >"$tmp/events.jsonl"
run() { "$crm" run "$here/threads.crm" --events "$tmp/events.jsonl" -q "$@"; }
run --state "sqlite:$tmp/reference.db" -o "$tmp/reference.jsonl" 2>/dev/null

kill_and_restart 15015 "$kills" 1200 40 "$tmp/crashy.db" "$tmp/out%d.jsonl" --threads 2
[ "$killed" -ge 3 ] || { echo "FAIL: only $killed of $kills runs were killed"; exit 1; }
run --threads 2 --state "sqlite:$tmp/crashy.db" -o "$tmp/final.jsonl" 2>/dev/null
PYTHONPATH="$(cd "$(dirname "$0")/../state" && pwd)" python3 - "$tmp" "$kills" <<'PY'
import json, sys, sqlite3, collections
from ledger_records import records, canonical
tmp, kills = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(f"{tmp}/crashy.db")
ref = sqlite3.connect(f"{tmp}/reference.db")
ledger = [canonical(r) for r in records(f"{tmp}/crashy.db")]  # schema 9: rebuilt from narrow rows
final = [canonical(l) for l in open(f"{tmp}/final.jsonl").read().splitlines()]
assert sorted(final) == sorted(ledger), "the restarted run did not report exactly the ledger"
have = collections.Counter(ledger)
for i in range(1, kills + 1):
    for line in open(f"{tmp}/out{i}.jsonl").read().splitlines():
        assert have[canonical(line)] > 0, f"run {i} reported a decision the ledger does not hold: {line}"
units = db.execute("SELECT count(*), count(DISTINCT unit) FROM crm_units WHERE kind = 0").fetchone()
assert units == (4000, 4000), f"event units {units}: an event lost or decided twice"
timers = db.execute("SELECT count(*), count(DISTINCT unit) FROM crm_units WHERE kind = 2").fetchone()
assert timers[0] == timers[1], f"a timer fired twice: {timers}"
def keys(c): return sorted(c.execute("SELECT kind, unit, user, strategy, outcome IN ('pending', 'cancelled') FROM crm_ledger"))
assert keys(db) == keys(ref), "the ledger's rows are not those of an uninterrupted run"
for s in ("loyal", "unpaid"):
    q = f"SELECT unit, json FROM crm_ledger WHERE strategy = '{s}' ORDER BY 1, 2"
    assert list(db.execute(q)) == list(ref.execute(q)), f"`{s}` decided differently after the crashes"
g = dict(db.execute("SELECT strategy, count(*) FROM crm_ledger WHERE outcome = 'granted' GROUP BY 1"))
assert g.get("flash", 0) == 250 and g.get("pool_a", 0) + g.get("pool_b", 0) == 600, g
dup = db.execute("SELECT count(*) FROM (SELECT unit, user, strategy FROM crm_ledger WHERE outcome = 'granted' "
                 "GROUP BY 1, 2, 3 HAVING count(*) > 1)").fetchone()[0]
assert dup == 0, f"{dup} duplicated grants"
print(f"ok: nothing lost, nothing decided twice, limits kept across the SIGKILLs with --threads 2")
PY
echo "($killed of $kills runs killed)"
