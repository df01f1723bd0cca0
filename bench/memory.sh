#!/usr/bin/env bash
# memory.sh CRM [EVENTS] [USERS] - bytes per user of `crm run` for examples/online-retail/retail.crm
# (docs/performance.md §11). Generates EVENTS Order events (default 10,000,000) over USERS users
# (default 1,000,000), evenly spread over 2010-12-01 .. 2011-12-09 (the span of the UCI log the
# program was written for; amounts 1.00-300.00 GBP, 1-40 items, 90% "United Kingdom"), runs
# `crm run --threads 1` without a ledger and with the SQLite ledger, and prints each run's peak RSS
# (/usr/bin/time) and (peak RSS - baseline) / USERS, where the baseline is the same run over
# 1,000 events of 1,000 users. Run it under /work/tools/run-lock.
set -euo pipefail
crm=$1
events=${2:-10000000}
users=${3:-1000000}
here=$(cd "$(dirname "$0")/.." && pwd)
program=$here/examples/online-retail/retail.crm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gen() {
  python3 - "$1" "$2" <<'PY'
import random, sys, datetime
events, users = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(15)
t0 = int(datetime.datetime(2010, 12, 1, tzinfo=datetime.timezone.utc).timestamp())
span = int(datetime.datetime(2011, 12, 9, tzinfo=datetime.timezone.utc).timestamp()) - t0
out = sys.stdout
for i in range(events):
    t = datetime.datetime.fromtimestamp(t0 + i * span // events, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    country = "United Kingdom" if rng.random() < 0.9 else "France"
    out.write('{"id":"e%d","type":"Order","user":"c%d","time":"%s","amount":%d.%02d,"items":%d,"country":"%s"}\n'
              % (i, rng.randrange(users), t, rng.randrange(1, 300), rng.randrange(100), rng.randrange(1, 41), country))
PY
}
gen "$events" "$users" >"$tmp/events.jsonl"
gen 1000 1000 >"$tmp/base.jsonl"
echo "# retail.crm: $events events, $users users, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ledger in none sqlite; do
  declare -A rss
  for input in base events; do
    rm -f "$tmp"/l.db*
    state=()
    [ "$ledger" = sqlite ] && state=(--state "sqlite:$tmp/l.db")
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$tmp/rss" "$crm" run "$program" --events "$tmp/$input.jsonl" "${state[@]}" -q -o "$tmp/out.jsonl"
    end=$(date +%s.%N)
    rss[$input]=$(tail -1 "$tmp/rss")
  done
  echo "ledger=$ledger: $(wc -l <"$tmp/out.jsonl") decisions, $(python3 -c "print(round($end - $start, 2))") s," \
    "peak RSS $((rss[events] / 1024)) MB (baseline $((rss[base] / 1024)) MB)," \
    "$(python3 -c "print(round((${rss[events]} - ${rss[base]}) * 1024 / $users))") bytes per user"
done
