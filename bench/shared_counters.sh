#!/usr/bin/env bash
# shared_counters.sh CRM [EVENTS] [USERS] - Redis-shared counters (docs/scaling.md): decisions/s and
# reservations/s of 1, 2 and 4 `crm run --partition K/N --shared` processes on one stream, each
# with its own SQLite ledger, against one private redis-server; the same stream without --shared
# for reference; strict mode (--shared-wait-replicas 1, with a local replica); and leases
# (--shared-lease N for each N in $BENCH_LEASES, default "16 64", each against a run without leases
# measured just before it with the same --commit-every 4096). $BENCH_SECTIONS (default
# "shared strict leases") picks the parts. Run it under /work/tools/run-lock; docs/performance.md
# has the figures.
set -euo pipefail
crm=$1
events=${2:-200000}
users=${3:-50000}
sections=${BENCH_SECTIONS:-shared strict leases}
leases=${BENCH_LEASES:-16 64}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_redis() {  # PORT [ARGS...]
  local port=$1
  shift
  mkdir -p "$tmp/r$port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/r$port" --logfile "$tmp/r$port/log" "$@" &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server did not start"; exit 1
}
# Limits far above demand and no per-user cap, so every qualifying event reserves in Redis and the
# reservations/s figure measures the shared counters, not a budget that ran out early.
program=$tmp/bench.crm
cat >"$program" <<'CRM'
event Order {
    amount: Money(CNY)
}

resource coupon c10 {
    discount: 10 CNY
    threshold: 50 CNY
}

strategy wide for business "mall" {
    who: amount >= 30 CNY
    when: on Order
    what: grant c10
    how much: budget 100000000 CNY, stock 100000000
}
CRM
python3 "$root/tests/shared/gen_events.py" "$users" "$events" >"$tmp/events.jsonl"
port=$(free_port)
start_redis "$port"
url=redis://127.0.0.1:$port
evalsha() { redis-cli -p "$1" info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p'; }

# run_set NAME N [EXTRA...]: N processes at once; prints decisions/s and reservations/s.
run_set() {
  local name=$1 n=$2
  shift 2
  "$crm" shared reconcile --shared "$url" --campaign "$name" >/dev/null
  rm -f "$tmp"/l-*.db*
  local before after start end
  before=$(evalsha "$port"); before=${before:-0}
  start=$(date +%s.%N)
  local ps=()
  for k in $(seq "$n"); do
    "$crm" run "$program" --events "$tmp/events.jsonl" --partition "$k/$n" --state "sqlite:$tmp/l-$k.db" \
      --shared "$url" --campaign "$name" --out "$tmp/d-$k.jsonl" "$@" 2>/dev/null &
    ps+=($!)
  done
  for p in "${ps[@]}"; do wait "$p"; done
  end=$(date +%s.%N)
  after=$(evalsha "$port")
  local decisions
  decisions=$(cat "$tmp"/d-*.jsonl | wc -l)
  rate=$(python3 -c "print($decisions / ($end - $start))")
  # Every lease given back at exit: Redis counts exactly the grants.
  local counted
  counted=$(redis-cli -p "$port" hget "crm:{$name}:counters" d:wide)
  [ "$counted" = "$decisions" ] || echo "WARNING: $name: Redis counts $counted deliveries, the processes decided $decisions"
  NAME=$name N=$n S=$(python3 -c "print($end - $start)") D=$decisions R=$((after - before)) REF=${ref:-} python3 -c '
import os
e = os.environ
s, d, r = float(e["S"]), int(e["D"]), int(e["R"])
vs = ", %.2fx the run without leases" % ((d / s) / float(e["REF"])) if e["REF"] else ""
print("%-28s %2d process(es): %8.2f s, %9.0f decisions/s, %8.0f scripts/s (%d decisions, %d EVALSHA)%s"
      % (e["NAME"], int(e["N"]), s, d / s, r / s, d, r, vs))'
  rm -f "$tmp"/d-*.jsonl
}

echo "events: $events, users: $users, program: one strategy, every qualifying order reserves budget and stock"
start=$(date +%s.%N)
"$crm" run "$program" --events "$tmp/events.jsonl" --state "sqlite:$tmp/local.db" --out "$tmp/local.jsonl" 2>/dev/null
end=$(date +%s.%N)
python3 -c "s = $end - $start; n = $(wc -l <"$tmp/local.jsonl"); print('%-28s  1 process(es): %8.2f s, %9.0f decisions/s (no Redis)' % ('local counters', s, n / s))"
ref=
if [[ " $sections " == *" shared "* ]]; then
run_set shared-1 1
run_set shared-2 2
run_set shared-4 4
fi
if [[ " $sections " == *" leases "* ]]; then
# Leases are given back after each commit: group commit (4096 units, the default) makes them pay.
for n in 1 2 4; do
  ref=
  run_set "nolease-$n" "$n" --commit-every 4096
  ref=$rate
  for l in $leases; do run_set "lease$l-$n" "$n" --shared-lease "$l" --commit-every 4096; done
  ref=
done
fi
if [[ " $sections " == *" strict "* ]]; then
# Strict mode: one replica, each reservation waits for it (WAIT 1).
rport=$(free_port)
start_redis "$rport" --replicaof 127.0.0.1 "$port"
for _ in $(seq 100); do
  redis-cli -p "$port" info replication | grep -q '^connected_slaves:1' && break
  sleep 0.1
done
run_set strict-1 1 --shared-wait-replicas 1 --shared-wait-timeout 1000
if [[ " $sections " == *" leases "* ]]; then
  ref=
  run_set strict-4 4 --shared-wait-replicas 1 --shared-wait-timeout 1000 --commit-every 4096
  ref=$rate
  for l in $leases; do
    run_set "strict-lease$l-4" 4 --shared-wait-replicas 1 --shared-wait-timeout 1000 --shared-lease "$l" --commit-every 4096
  done
  ref=
else
  run_set strict-4 4 --shared-wait-replicas 1 --shared-wait-timeout 1000
fi
fi
