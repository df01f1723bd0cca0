#!/usr/bin/env bash
# dedup_window.sh CRM [EVENTS] [USERS] [WINDOW...] - the SQLite-ledger, one-thread run of
# bench/threads.sh (the same program and events: EVENTS Order events over USERS users, ten a
# second, so 10M events span 11.6 days) once per `--dedup-window` value (default: 1d 7d forever),
# printing durable events/s, decisions and peak RSS (/usr/bin/time). The ids the window keeps
# are ~64 bytes each (docs/performance.md §11). Run it under /work/tools/run-lock.
set -euo pipefail
crm=$1
events=${2:-10000000}
users=${3:-1000000}
shift $(($# < 3 ? $# : 3))
windows=("$@")
[ ${#windows[@]} -gt 0 ] || windows=(1d 7d forever)
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The program and the generator of bench/threads.sh, taken from it so the two stay the same.
sed -n "/^cat >\"\$tmp\/bench.crm\" <<'CRM'$/,/^CRM$/p" "$root/bench/threads.sh" | sed '1d;$d' >"$tmp/bench.crm"
sed -n "/^python3 - \"\$events\" \"\$users\" >\"\$tmp\/events.jsonl\" <<'PY'$/,/^PY$/p" "$root/bench/threads.sh" | sed '1d;$d' >"$tmp/gen.py"
python3 "$tmp/gen.py" "$events" "$users" >"$tmp/events.jsonl"
echo "# $events events, $users users, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for w in "${windows[@]}"; do
  rm -f "$tmp"/l.db*
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$tmp/rss" "$crm" run "$tmp/bench.crm" --events "$tmp/events.jsonl" --threads 1 \
    --state "sqlite:$tmp/l.db" --dedup-window "$w" -q -o "$tmp/out.jsonl"
  end=$(date +%s.%N)
  rss=$(($(tail -1 "$tmp/rss") / 1024))
  lines=$(wc -l <"$tmp/out.jsonl")
  python3 -c "
s = $end - $start
print(f'--dedup-window $w: {int($events / s)} events/s, {int($lines / s)} durable decisions/s ($lines decisions, {s:.1f} s), peak RSS $rss MB')"
done
