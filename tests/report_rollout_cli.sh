#!/usr/bin/env bash
# report_rollout_cli.sh CRM - `crm report` after an automatic roll-out (docs/indicators.md,
# "Automatic roll-out"): the experiment is the randomized test only. Users the roll-out reached
# afterwards are left out of its groups, its sample-ratio check and uplifts (counted and noted),
# while the indicators still count their rows.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

cat >p.crm <<'EOF2'
event Visit {}
event Order { amount: Money(USD) }
resource push pa { title: "A" body: "a" }
resource push pb { title: "B" body: "b" }
strategy t for business "m" {
    who: true
    when: on Visit between 2026-06-01T00:00:00Z and 2026-07-01T00:00:00Z
    what: send pa via Push code "PA" for arm A,
          send pb via Push code "PB" for arm B
    how much: per user 1 per campaign
    split: control 10%, variants A 10%, B 10% salt "r"
    rollout: best of (A, B) by conversion after 5 days
}
EOF2
# 3000 users visit in the first 5 days (the test), 3000 more after it. The arms are read from a
# first run of the test's visits; arm A's users order (50%), the others rarely (10%).
python3 - <<'EOF2' >visits.jsonl
import datetime
t0 = datetime.datetime(2026, 6, 1)
for i in range(3000):  # one every 2 minutes from 1 June: the first 100 hours
    t = (t0 + datetime.timedelta(minutes=2 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print('{"id":"v%d","type":"Visit","user":"u%d","time":"%s"}' % (i, i, t))
EOF2
"$crm" run p.crm --events visits.jsonl -q >first.jsonl 2>/dev/null || fail "first run"
python3 - <<'EOF2' >events.jsonl || fail "events"
import datetime, json
t0 = datetime.datetime(2026, 6, 1)
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
arm = {}
for l in open("first.jsonl"):
    d = json.loads(l)
    if d.get("strategy") == "t":
        arm[d["user"]] = "control" if d["outcome"] == "control" else d.get("arm")
lines = []
for l in open("visits.jsonl"):
    e = json.loads(l)
    lines.append((e["time"], l.strip()))
    i = int(e["user"][1:])
    rate = 2 if arm.get(e["user"]) == "A" else 10
    if i % rate == 0:  # an hour after the visit
        t = iso(t0 + datetime.timedelta(minutes=2 * i + 60))
        lines.append((t, '{"id":"o%d","type":"Order","user":"%s","time":"%s","amount":20}' % (i, e["user"], t)))
for i in range(3000, 6000):  # after the decision point (5 days), one every 4 minutes from 7 June
    t = iso(t0 + datetime.timedelta(days=6, minutes=4 * (i - 3000)))
    lines.append((t, '{"id":"v%d","type":"Visit","user":"u%d","time":"%s"}' % (i, i, t)))
for t, l in sorted(lines):
    print(l)
EOF2
"$crm" run p.crm --events events.jsonl --state sqlite:s.db -q -o decisions.jsonl 2>/dev/null || fail "run"
grep -q '"outcome":"rollout".*"arm":"A"' decisions.jsonl || fail "A did not win the roll-out"
rolled=$(grep -c '"rollout":"A"' decisions.jsonl || true)
[ "$rolled" -gt 1000 ] || fail "few users reached by the roll-out: $rolled"
"$crm" report --state sqlite:s.db --events events.jsonl --format json >r.json 2>/dev/null || fail "report"
python3 - "$rolled" <<'EOF2' || fail "report: $(cat r.json)"
import json, sys
r = json.load(open("r.json"))
rolled = int(sys.argv[1])
e = r["experiments"][0]
assert e["rollout_users"] == rolled, (e["rollout_users"], rolled)
# The randomized groups (control 10%, arms 20% of all 6000 users, also after the roll-out):
# 1:2, and the sample ratio holds.
assert e["srm_checked"] and e["srm_mismatch"] is False, e
t = [a for a in e["arms"] if a["arm"] == "t"][0]
c = [a for a in e["arms"] if a["arm"] == "control"][0]
assert abs(t["users"] + c["users"] - 1800) < 150 and abs(c["users"] / (t["users"] + c["users"]) - 1 / 3) < 0.05, (t, c)
# A's users convert at 50% against 10%: the whole treatment's conversion uplift is positive.
conv = [u for u in e["uplifts"] if u["metric"] == "conversion_rate"][0]
assert conv["absolute"] > 0, conv
# The indicators still count every delivery, the roll-out's too.
assert r["indicators"][0]["reached"] >= t["users"] + rolled, r["indicators"][0]
assert any("reached by the automatic roll-out" in n for n in r["notes"]), r["notes"]
EOF2
"$crm" report --state sqlite:s.db --events events.jsonl >table.txt 2>/dev/null || fail "table"
grep -q "^experiment t: .*, $rolled reached by the roll-out (left out); sample ratio ok" table.txt || fail "table: $(cat table.txt)"
echo "ok"
