#!/usr/bin/env bash
# reload.sh CRM - hot reload under load (issue 15 item 6; docs/semantics.md, "Hot reload"):
# `crm run --reload-on SIGHUP --state sqlite:...` reads a stream of 6000 events from a fifo while
# the strategy file is edited and SIGHUP is sent several times mid-stream: a program with a
# strategy removed and one added (applied), one that does not compile and one whose counters
# cannot carry over (both refused, the running program goes on), one with a changed stock
# (applied: its counters carry over), and the same program again. Then, against the ledger and
# the decisions written: every event decided exactly once and none lost, stock never
# overgranted (also not by a reload that would have started counting again), no user granted
# twice, A/B control kept, and each event decided by the program in force at its line.
# Then, when redis-server is installed, a shorter run with the campaign counters in Redis
# (`--shared`): a reload keeps using them (stock enforced across the swap).
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
pid=
redis_pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  if [ -n "$redis_pid" ]; then
    kill -9 "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$tmp/err.txt" ] && sed 's/^/  stderr: /' "$tmp/err.txt" | head -40
  exit 1
}

cat >"$tmp/v1.crm" <<'EOF'
event Order { amount: Money(CNY) }
event Visit { page: String }
resource coupon c10 { discount: 10 CNY }
resource coupon c20 { discount: 20 CNY }
strategy welcome { who: true  when: on Order  what: grant c10 via App  how much: stock 150, per user 1 per campaign  split: control 20% }
strategy alpha { who: true  when: on Visit  what: grant c20 via App  how much: per user 1 per campaign }
EOF
# v2: alpha removed, beta added (stock 40); welcome unchanged.
grep -v '^strategy alpha' "$tmp/v1.crm" >"$tmp/v2.crm"
echo 'strategy beta { who: true  when: on Visit  what: grant c20 via Push  how much: stock 40 }' >>"$tmp/v2.crm"
# v3: welcome's stock 150 -> 170 (a change, allowed: its 150 grants still count).
sed 's/stock 150/stock 170/' "$tmp/v2.crm" >"$tmp/v3.crm"
# Refused: does not compile; welcome's coupon now in USD (its counters cannot carry over).
{ cat "$tmp/v2.crm"; echo 'strategy broken { who: nope'; } >"$tmp/broken.crm"
sed 's/discount: 10 CNY/discount: 10 USD/' "$tmp/v2.crm" >"$tmp/usd.crm"

python3 - "$tmp/events.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(6000):
        t = 1767225600 + i  # 2026-01-01T00:00:00Z + i s
        ts = "2026-01-01T%02d:%02d:%02dZ" % (i // 3600, i // 60 % 60, i % 60)
        u = "u%d" % (i * 7 % 1000)
        if i % 2 == 0:
            f.write(json.dumps({"id": "e%d" % i, "type": "Order", "user": u, "time": ts, "amount": "30"}) + "\n")
        else:
            f.write(json.dumps({"id": "e%d" % i, "type": "Visit", "user": u, "time": ts, "page": "home"}) + "\n")
EOF

cp "$tmp/v1.crm" "$tmp/p.crm"
mkfifo "$tmp/fifo"
"$crm" run "$tmp/p.crm" --events "$tmp/fifo" --state "sqlite:$tmp/l.db" --reload-on SIGHUP --allow-program-change \
  --commit-every 50 --out "$tmp/out.jsonl" 2>"$tmp/err.txt" &
pid=$!
# The stream: a writer paced at about 2000 events/s, so every signal lands while events flow.
# It holds back the last 300 events, a trickle of one per 20 ms, until the reloads are done.
python3 - "$tmp/events.jsonl" "$tmp/fifo" "$tmp/reloads_done" <<'EOF2' &
import os, sys, time
lines = open(sys.argv[1]).readlines()
with open(sys.argv[2], "w") as out:
    i = 0
    while i < len(lines):
        if i < len(lines) - 300 or os.path.exists(sys.argv[3]):
            out.writelines(lines[i:i + 20])
            i += 20
            time.sleep(0.01)
        else:
            out.write(lines[i])
            i += 1
            time.sleep(0.02)
        out.flush()
EOF2
writer=$!
reloads=0
reload() {  # the strategy file as it will be read, then the signal
  cp "$tmp/$1" "$tmp/p.crm"
  kill -HUP "$pid"
  reloads=$((reloads + 1))
}
# The reload happens before the next event crm decides: wait until it has said so before the
# strategy file is edited again.
settled() {
  for _ in $(seq 3000); do
    [ "$(grep -cE '^crm: (note: reloaded the program|reload before)' "$tmp/err.txt")" -ge "$reloads" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "crm run stopped"
    sleep 0.01
  done
  fail "reload $reloads was not reported"
}
for _ in $(seq 3000); do [ -s "$tmp/out.jsonl" ] && break; sleep 0.01; done  # v1 has decided events
reload v2.crm
settled
sleep 0.2
reload broken.crm
settled
sleep 0.2
reload usd.crm
settled
sleep 0.2
reload v3.crm
settled
sleep 0.1
reload v3.crm  # the same program again: continues silently
settled
touch "$tmp/reloads_done"
wait "$writer" || fail "the writer failed"
set +e
wait "$pid"
rc=$?
set -e
pid=
[ "$rc" -eq 0 ] || fail "crm run exited with $rc"

grep -q 'p.crm:.*error\[E' "$tmp/err.txt" || fail "the program that does not compile: no diagnostics"
grep -q 'does not compile; the running program goes on' "$tmp/err.txt" || fail "no refusal of the program that does not compile"
grep -q 'reload before .*: reload refused, the running program goes on: .*cannot be continued' "$tmp/err.txt" ||
  fail "no refusal of the program whose counters cannot carry over"

PYTHONPATH="$(cd "$(dirname "$0")" && pwd)" python3 - "$tmp" <<'EOF'
import json, re, sqlite3, sys
from collections import Counter, defaultdict
tmp = sys.argv[1]
def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)
err = open(tmp + "/err.txt").read()
# Where each reload happened (the line of the fifo it came before) and whether it was applied.
events = re.findall(r"^crm: (?:note: reloaded the program before \S+:(\d+) \([0-9.]+ s\)$|reload before \S+:(\d+)(?: refused|: reload refused))", err, re.M)
steps = [(int(a), True) if a else (int(b), False) for a, b in events]
applied = [line for line, ok in steps if ok]
refused = [line for line, ok in steps if not ok]
if len(refused) != 2: fail("expected 2 refused reloads, got %s" % steps)
if len(applied) != 3: fail("expected 3 applied reloads, got %s" % steps)
if not re.search(r"reloads: %d applied, 2 refused" % len(applied), err): fail("summary does not count the reloads")
l2, l3 = applied[0], applied[1]  # v2, then v3 (then v3 again)
if not (1 < l2 < refused[0] < refused[1] < l3 < applied[2] <= 6000): fail("reloads out of order: %s" % steps)
# (A reload comes before the first event crm decides after the signal, which may be well
# before the last line written by then: the fifo and crm's reader hold lines.)
# Which program is in force at each line (1-based line = event index + 1).
def version(i):
    line = i + 1
    return 1 if line < l2 else 2 if line < l3 else 3

out = [json.loads(x) for x in open(tmp + "/out.jsonl")]
db = sqlite3.connect(tmp + "/l.db")
from ledger_records import records, canonical
rows = records(tmp + "/l.db")
if Counter(canonical(r) for r in rows) != Counter(canonical(r) for r in out):
    fail("the decisions written are not the ledger's rows (%d written, %d in the ledger)" % (len(out), len(rows)))
units = [u for (u,) in db.execute("SELECT unit FROM crm_units WHERE kind = 0")]
if len(units) != 6000 or len(set(units)) != 6000: fail("%d event units, %d distinct; expected 6000" % (len(units), len(set(units))))
by_event = defaultdict(list)
for d in out: by_event[d["event"]].append(d)
if set(by_event) != {"e%d" % i for i in range(6000)}: fail("events without decisions: %d" % (6000 - len(by_event)))
granted = Counter()
welcome_users = Counter()
control, treated = set(), set()
for i in range(6000):
    ds = by_event["e%d" % i]
    v = version(i)
    strategies = [d["strategy"] for d in ds]
    expected = ["welcome"] if i % 2 == 0 else ["alpha"] if v == 1 else ["beta"]
    if strategies != expected: fail("event e%d (program v%d) decided by %s, expected %s" % (i, v, strategies, expected))
    d = ds[0]
    if d["outcome"] == "granted":
        granted[(d["strategy"], v)] += 1
        if d["strategy"] == "welcome": welcome_users[d["user"]] += 1
    if d["strategy"] == "welcome":
        (control if d["outcome"] == "control" else treated).add(d["user"])
before_v3 = granted[("welcome", 1)] + granted[("welcome", 2)]
total = before_v3 + granted[("welcome", 3)]
if before_v3 != 150: fail("welcome granted %d before its stock became 170, expected 150 (stock 150 exhausted)" % before_v3)
if total != 170: fail("welcome granted %d in all, expected 170 (its counters carried over)" % total)
if granted[("beta", 2)] + granted[("beta", 3)] != 40: fail("beta granted %d, expected its stock 40" % (granted[("beta", 2)] + granted[("beta", 3)]))
if max(welcome_users.values()) != 1: fail("a user was granted welcome twice")
if control & treated: fail("%d users both in control and treated" % len(control & treated))
# The ledger knows which program decided what: one program hash per version's range.
hashes = defaultdict(set)
for unit, h in db.execute("SELECT u.unit, p.hash FROM crm_units u JOIN crm_programs p ON p.id = u.program WHERE u.kind = 0"):
    hashes[version(int(unit[1:]))].add(h)
if any(len(hashes[v]) != 1 for v in (1, 2, 3)) or len({next(iter(hashes[v])) for v in (1, 2, 3)}) != 3:
    fail("program of each unit: %s" % dict(hashes))
if db.execute("SELECT count(*) FROM crm_units WHERE program IS NULL").fetchone()[0]: fail("units without a program")
print("ok: 6000 events decided once across %d reloads (%d applied at lines %s, 2 refused); welcome 150+%d of stock 170, beta 40"
      % (len(steps), len(applied), applied, total - 150))
EOF

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "note: redis-server not installed: the --shared part is skipped"
  exit 0
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$tmp/redis"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/redis" >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" ping >/dev/null 2>&1 || fail "redis-server did not start"
"$crm" shared reconcile --shared "redis://127.0.0.1:$port" >/dev/null 2>&1 || fail "reconcile of a new campaign"
cp "$tmp/v1.crm" "$tmp/p.crm"
rm -f "$tmp/err.txt" "$tmp/out.jsonl" "$tmp/fifo"
mkfifo "$tmp/fifo"
"$crm" run "$tmp/p.crm" --events "$tmp/fifo" --state "sqlite:$tmp/s.db" --shared "redis://127.0.0.1:$port" \
  --reload-on SIGHUP --allow-program-change --commit-every 20 --out "$tmp/out.jsonl" 2>"$tmp/err.txt" &
pid=$!
exec 3>"$tmp/fifo"
head -n 400 "$tmp/events.jsonl" >&3
for _ in $(seq 3000); do [ -s "$tmp/out.jsonl" ] && break; sleep 0.01; done
cp "$tmp/v2.crm" "$tmp/p.crm"
kill -HUP "$pid"
sed -n 401,1200p "$tmp/events.jsonl" >&3
exec 3>&-
set +e
wait "$pid"
rc=$?
set -e
pid=
[ "$rc" -eq 0 ] || fail "crm run --shared exited with $rc"
grep -q "^crm: note: reloaded the program before" "$tmp/err.txt" || fail "--shared: no reload"
count() { sqlite3 "$tmp/s.db" "$1"; }
[ "$(count "SELECT count(DISTINCT unit) FROM crm_units WHERE kind = 0")" -eq 1200 ] || fail "--shared: not 1200 events"
[ "$(count "SELECT count(*) FROM crm_units WHERE kind = 0")" -eq 1200 ] || fail "--shared: an event decided twice"
[ "$(count "SELECT count(*) FROM crm_ledger WHERE strategy = 'welcome' AND outcome = 'granted'")" -eq 150 ] ||
  fail "--shared: welcome granted $(count "SELECT count(*) FROM crm_ledger WHERE strategy = 'welcome' AND outcome = 'granted'"), expected its stock 150"
[ "$(count "SELECT count(*) FROM crm_ledger WHERE strategy = 'beta' AND outcome = 'granted'")" -eq 40 ] ||
  fail "--shared: beta granted $(count "SELECT count(*) FROM crm_ledger WHERE strategy = 'beta' AND outcome = 'granted'"), expected its stock 40"
[ "$(count "SELECT count(*) FROM crm_ledger WHERE reason = 'shared_unavailable'")" -eq 0 ] || fail "--shared: reservations refused"
echo "ok: --shared: 1200 events once across a reload, welcome 150 and beta 40 of their stocks from Redis"
