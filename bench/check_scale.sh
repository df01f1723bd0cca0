#!/usr/bin/env bash
# check_scale.sh - `crm check` and `crm run` on N (default 10,000) strategies of one business,
# timed from the command line with peak memory (GNU time), for docs/performance.md (issue 9
# item 7). Run it alone on the machine (wrap it in a lock on shared hosts).
#
#   bench/check_scale.sh BUILD_DIR [N]
#
# Shapes: overlapping (one shared window, overlapping audiences: every pair conflicts),
# own_windows (a minute each, no two overlap), own_cities (one city each, one shared window).
# `crm run` reads the overlapping catalogue (split in files under the 1 MiB source limit) and
# one event: its time is the time to the first decision.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1/crm" ]; then
  echo "usage: $0 BUILD_DIR [N]" >&2
  exit 1
fi
crm=$1/crm
n=${2:-10000}
if [ "$n" -gt 44640 ]; then
  echo "N up to 44,640 (a minute each in January)" >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cat >"$dir/schema.crm" <<'CRM'
profile { age: Int = 0  city: String = "" }
event Order { amount: Money(CNY) }
CRM
for shape in overlapping own_windows own_cities; do
  awk -v n="$n" -v shape="$shape" -v out="$dir/$shape" 'function at(m) {
      return sprintf("2026-01-%02dT%02d:%02dZ", 1 + int(m / 1440), int(m % 1440 / 60), m % 60)
    }
    BEGIN {
      for (i = 0; i < n; i++) {
        who = shape == "own_cities" ? sprintf("city == \"c%d\"", i) : "age >= 18"
        win = shape == "own_windows" ? "between " at(i) " and " at(i + 1) : "between 2026-11-01T00:00Z and 2026-12-01T00:00Z"
        # Files of 5,000 strategies (< 1 MiB each) for `crm run`, which keeps the default limit;
        # each file declares its own resource.
        part = int(i / 5000)
        file = out "." part ".crm"
        if (i % 5000 == 0) printf "resource coupon c%d { discount: 5 CNY }\n", part >file
        printf "strategy s%d for business \"mall\" { who: %s  when: on Order %s  what: grant c%d }\n", i, who, win, part \
          >file
      }
    }'
  cat "$dir/$shape".*.crm >"$dir/$shape.all.crm"
done
echo '{"id":"e1","type":"Order","user":"u1","time":"2026-11-02T00:00:00Z","amount":60}' >"$dir/events.jsonl"

# Prints "COMMAND: S s, M MB" from GNU time's verbose report.
measure() {
  local label=$1
  shift
  /usr/bin/time -v "$@" >"$dir/out" 2>"$dir/err" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$dir/err")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$dir/err")
  local warnings
  warnings=$(grep -c 'warning\[W0105\]' "$dir/err" || true)
  local stop
  stop=$(grep -c 'warning\[W0108\]' "$dir/err" || true)
  printf '%-40s %6.2f s %5s MB  (%s W0105, %s W0108, %s decision lines)\n' "$label" "$wall" "$rss" "$warnings" "$stop" \
    "$(grep -c '"outcome"' "$dir/out" || true)"
}

for shape in overlapping own_windows own_cities; do
  measure "crm check $n $shape" "$crm" check --max-file-size 67108864 "$dir/schema.crm" "$dir/$shape.all.crm"
done
measure "crm run $n overlapping (1 event)" "$crm" run "$dir/schema.crm" "$dir"/overlapping.[0-9]*.crm \
  --events "$dir/events.jsonl"
