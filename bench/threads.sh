#!/usr/bin/env bash
# threads.sh CRM [EVENTS] [USERS] [REPS] - `crm run --threads 1` against `--threads 2`, end to end
# (JSON Lines in, decisions out), without a ledger and with the SQLite ledger (docs/performance.md
# §11). Generates EVENTS Order events (default 10,000,000) over USERS users (default 1,000,000),
# one second apart, and a program of three strategies: a flash sale with stock, budget and a
# per-user cap; a coupon from a budget pool; a loyalty coupon on a 30-day count. Each setup runs
# REPS times (default 3), alternating; prints min - max events/s and each run's peak RSS
# (/usr/bin/time), also per user. Extra `crm run` options from $CRM_RUN_ARGS (e.g. `--dedup-window
# 1d`: 10M events span 11.6 days, 2M events 2.3 days). Run it under /work/tools/run-lock.
set -euo pipefail
crm=$1
events=${2:-10000000}
users=${3:-1000000}
reps=${4:-3}
read -r -a extra <<<"${CRM_RUN_ARGS:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bench.crm" <<'CRM'
event Order {
    amount: Money(CNY)
}
resource coupon c10 { discount: 10 CNY  threshold: 50 CNY }
resource coupon c5 { discount: 5 CNY  threshold: 20 CNY }
resource coupon c3 { discount: 3 CNY }
pool shared { budget 2000000 CNY }
strategy flash for business "mall" {
    who: amount >= 100 CNY
    when: on Order
    what: grant c10
    how much: budget 400000 CNY, stock 40000, per user 1 per day
    priority: 1
}
strategy vip for business "mall" {
    who: amount >= 60 CNY
    when: on Order
    what: grant c5
    how much: from pool shared, per user 1 per 7 days
    priority: 2
}
strategy loyal for business "mall" {
    who: count(Order within 30 days) >= 3
    when: on Order
    what: grant c3
    how much: per user 1 per 30 days
    priority: 3
}
CRM
python3 - "$events" "$users" >"$tmp/events.jsonl" <<'PY'
import random, sys, datetime
events, users = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(11)
t0 = int(datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc).timestamp())
out = sys.stdout
for i in range(events):
    t = datetime.datetime.fromtimestamp(t0 + i // 10, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.write('{"id":"e%d","type":"Order","user":"u%d","time":"%s","amount":%d}\n' % (i, rng.randrange(users), t, rng.randrange(10, 160)))
PY
echo "# $events events, $users users, ${CRM_RUN_ARGS:-default options}, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best worst
for rep in $(seq "$reps"); do
  for ledger in none sqlite; do
    for t in 1 2; do
      rm -f "$tmp"/l.db*
      state=()
      [ "$ledger" = sqlite ] && state=(--state "sqlite:$tmp/l.db")
      start=$(date +%s.%N)
      /usr/bin/time -f "%M" -o "$tmp/rss" "$crm" run "$tmp/bench.crm" --events "$tmp/events.jsonl" --threads $t "${state[@]}" \
        "${extra[@]}" -q -o "$tmp/out.jsonl"
      end=$(date +%s.%N)
      rss=$(($(tail -1 "$tmp/rss") / 1024))
      rate=$(python3 -c "print(int($events / ($end - $start)))")
      lines=$(wc -l <"$tmp/out.jsonl")
      echo "rep $rep ledger=$ledger threads=$t: $rate events/s ($lines decisions, $(python3 -c "print(round($end - $start, 2))") s, peak RSS $rss MB, $(python3 -c "print(round($rss * 1048576 / $users))") bytes per user)"
      k="$ledger/$t"
      [ -z "${best[$k]:-}" ] || [ "$rate" -gt "${best[$k]}" ] && best[$k]=$rate
      [ -z "${worst[$k]:-}" ] || [ "$rate" -lt "${worst[$k]}" ] && worst[$k]=$rate
    done
  done
done
for ledger in none sqlite; do
  echo "ledger=$ledger: 1 thread ${worst[$ledger/1]} - ${best[$ledger/1]} events/s; 2 threads ${worst[$ledger/2]} - ${best[$ledger/2]} events/s; best 2/1 = $(python3 -c "print(round(${best[$ledger/2]} / ${best[$ledger/1]}, 2))")"
done
