#!/usr/bin/env bash
# differential.sh CRM - `crm run --threads 1` against `--threads 2` and `--threads 4` (issue 15
# item 1) on threads.crm: stock, budget, a pool shared by two strategies, per-user limits, an A/B
# split and a delayed trigger. With limits above demand the decisions are byte-identical (same
# outcomes per user and event, in the same order). With the real limits, stock and budget run out
# and which users get the last units depends on how the threads interleave, so: the same events
# decided (every line's event, user and strategy), the same totals per counter, no counter above
# its limit, and the strategies no limit binds (`loyal`, `unpaid`) identical; also with the SQLite
# ledger, whose rows must be what was reported.
set -euo pipefail
crm=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/gen.py" 400 5000 >"$tmp/events.jsonl"
sed -e 's/stock 250/stock 1000000/; s/budget 3000 CNY/budget 3000000 CNY/; s/budget 4000 CNY/budget 4000000 CNY/;
        s/stock 600$/stock 600000/; s/stock 350/stock 1000000/; s/budget 2000 CNY/budget 2000000 CNY/' \
  "$here/threads.crm" >"$tmp/wide.crm"
cmp -s "$here/threads.crm" "$tmp/wide.crm" && { echo "FAIL: the limits were not raised"; exit 1; }

for t in 1 2 4; do
  "$crm" run "$tmp/wide.crm" --events "$tmp/events.jsonl" --threads $t -q -o "$tmp/wide$t.jsonl" 2>/dev/null
  "$crm" run "$here/threads.crm" --events "$tmp/events.jsonl" --threads $t -q -o "$tmp/tight$t.jsonl" 2>/dev/null
done
"$crm" run "$here/threads.crm" --events "$tmp/events.jsonl" --threads 2 -q --state "sqlite:$tmp/l2.db" \
  --commit-every 300 -o "$tmp/tight2db.jsonl" 2>/dev/null

# The same with the SQLite ledger, in many groups (each batch's decisions handed on once its
# group committed, merged from the workers' buffers): still one thread's bytes.
"$crm" run "$tmp/wide.crm" --events "$tmp/events.jsonl" --threads 2 -q --state "sqlite:$tmp/w2.db" \
  --commit-every 300 -o "$tmp/wide2db.jsonl" 2>/dev/null
for t in 2 4 2db; do
  cmp "$tmp/wide1.jsonl" "$tmp/wide$t.jsonl" || { echo "FAIL: --threads $t decides differently without contention"; exit 1; }
done
PYTHONPATH="$(cd "$(dirname "$0")/../state" && pwd)" python3 - "$tmp" <<'PY'
import json, sys, sqlite3, collections
tmp = sys.argv[1]
def read(name):
    return [json.loads(l) for l in open(f"{tmp}/{name}")]
ref = read("tight1.jsonl")
assert len(ref) > 10000, len(ref)
def key(d): return (d["event"], d["user"], d["strategy"], d["outcome"] in ("pending", "cancelled"))
def granted(ds, s): return sum(1 for d in ds if d["strategy"] == s and d["outcome"] == "granted")
limits = {"flash": 250, "pool_b": 350}
for name in ("tight2.jsonl", "tight4.jsonl", "tight2db.jsonl"):
    got = read(name)
    assert sorted(map(key, got)) == sorted(map(key, ref)), f"{name}: not the same events and strategies decided"
    for s in ("loyal", "unpaid"):
        a = [d for d in ref if d["strategy"] == s]; b = [d for d in got if d["strategy"] == s]
        assert a == b, f"{name}: `{s}` (no shared limit binds it) decided differently"
    for s in ("flash", "pool_a", "pool_b"):
        # Demand is above every limit: each counter ends exactly at its bound, in any interleaving.
        assert granted(got, s) <= limits.get(s, 10**9), (name, s, granted(got, s))
    assert granted(got, "flash") == granted(ref, "flash") == 250, (name, granted(got, "flash"))
    pool = granted(got, "pool_a") + granted(got, "pool_b")
    assert pool == granted(ref, "pool_a") + granted(ref, "pool_b") == 600, (name, pool)
    assert granted(got, "pool_a") * 5 <= 2000 and pool * 5 <= 4000
    # Per-user limits: flash 1 per day, pool_a 2 per campaign, unpaid 1 per campaign.
    per = collections.Counter((d["strategy"], d["user"], d["at"][:10]) for d in got if d["outcome"] == "granted")
    assert all(n <= 1 for (s, u, day), n in per.items() if s == "flash")
    per = collections.Counter((d["strategy"], d["user"]) for d in got if d["outcome"] == "granted")
    assert all(n <= 2 for (s, u), n in per.items() if s == "pool_a")
    assert all(n <= 1 for (s, u), n in per.items() if s == "unpaid")
    # A user's decisions in that user's event order (a fired timer names the event that armed it).
    seen = {}
    for d in got:
        if d["strategy"] == "unpaid" and d["outcome"] not in ("pending", "cancelled"): continue
        n = int(d["event"][1:])
        assert seen.get(d["user"], -1) <= n, (name, d)
        seen[d["user"]] = n
db = sqlite3.connect(f"{tmp}/l2.db")
from ledger_records import records, canonical  # schema 9: records rebuilt from narrow rows
rows = sorted(canonical(r) for r in records(f"{tmp}/l2.db"))
assert rows == sorted(canonical(l) for l in open(f"{tmp}/tight2db.jsonl").read().splitlines()), "ledger rows are not the reported decisions"
units = db.execute("SELECT count(*), count(DISTINCT unit) FROM crm_units WHERE kind = 0").fetchone()
assert units == (5000, 5000), units
print("ok: --threads 2 and 4 decide as --threads 1 (byte-identical without contention; same totals, "
      "no limit exceeded with it)")
PY
