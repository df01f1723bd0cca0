#!/usr/bin/env bash
# run.sh - runs every benchmark binary found in a build directory and prints one table per
# benchmark, each figure next to its ratio to named baselines.
#
#   bench/run.sh BUILD_DIR [--smoke] [--records=N] [--profiles=N] [--reps=N]
#
# Options after BUILD_DIR go to every binary (--smoke: tiny sizes, for CI). Binaries print
# `name<TAB>metric<TAB>value<TAB>count` lines and abort on a wrong count; this script fails if
# any binary fails, or if two engines disagree on a count. The raw lines are kept in
# BUILD_DIR/bench_results.tsv.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR [--smoke] [--records=N] [--profiles=N] [--reps=N]" >&2
  exit 1
fi
build=$1
shift

# Ratios are "x <baseline>": how many times as long as the baseline the variant takes per record
# (so the same reading for ns_per_eval and profiles_per_s: above 1 is slower than the baseline).
ns_baselines="native/interned luajit/pcall_per_record"
rate_baselines="native/audience_branchy luajit/audience_ffi"

# Baselines first, the crm VM last; a name printed twice (crm_bench may re-emit baselines) keeps
# its first figure.
binaries="bench_baselines bench_lua54 bench_luajit crm_bench"

results="$build/bench_results.tsv"
extra="$build/bench_crm_results.tsv"
: >"$results"
: >"$extra"
failed=0
ran=0
for b in $binaries; do
  exe=$(find "$build" -maxdepth 3 -type f -perm -u+x -name "$b" | head -n 1)
  if [ -z "$exe" ]; then
    echo "# $b: not built, skipped" >&2
    continue
  fi
  echo "# running $exe $*" >&2
  out=$(mktemp)
  start=$SECONDS
  if "$exe" "$@" >"$out"; then
    ran=$((ran + 1))
  else
    echo "# $b FAILED (exit $?)" >&2
    failed=1
  fi
  echo "# $b: $((SECONDS - start)) s" >&2
  # Keep only well-formed result lines, whatever else a binary prints.
  awk -F'\t' 'NF == 4 && $2 ~ /^(ns_per_eval|profiles_per_s)$/' "$out" >>"$results"
  # Streaming and compile figures have no external baseline: they compare crm with itself.
  awk -F'\t' 'NF == 4 && $2 ~ /^(events_per_s|ns_per_event|seconds|peak_rss_mb|decisions_per_s|code_mb)$/' "$out" >>"$extra"
  rm -f "$out"
done

if [ "$ran" -eq 0 ]; then
  [ "$failed" -eq 0 ] && echo "no benchmark binary in $build (configure with -DCRM_BUILD_BENCH=ON)" >&2
  exit 1
fi

awk -F'\t' -v nsb="$ns_baselines" -v rateb="$rate_baselines" '
  seen[$1]++ { printf "# %s reported twice: the later figure, %s, is ignored\n", $1, $3 > "/dev/stderr"; next }
  {
    order[++n] = $1; metric[$1] = $2; value[$1] = $3; count[$1] = $4
    if (($2 in firstcount) && firstcount[$2] != $4) {
      mismatch = mismatch sprintf("  %s counted %s, %s counted %s\n", $1, $4, firstname[$2], firstcount[$2])
    } else if (!($2 in firstcount)) {
      firstcount[$2] = $4; firstname[$2] = $1
    }
  }
  # Time per record relative to the baseline; for throughputs that is the inverse ratio.
  function ratio(name, base) {
    if (!(base in value) || value[base] == 0 || value[name] == 0) return "-"
    r = metric[name] == "ns_per_eval" ? value[name] / value[base] : value[base] / value[name]
    return sprintf(r < 10 ? "%.2f" : "%.1f", r)
  }
  function table(m, title, unit, scale, bases,   nb, b, i, k, line) {
    nb = split(bases, b, " ")
    any = 0
    for (i = 1; i <= n; ++i) if (metric[order[i]] == m) any = 1
    if (!any) return
    printf "\n%s\n", title
    line = sprintf("%-40s %12s", "variant", unit)
    for (k = 1; k <= nb; ++k) line = line sprintf(" %26s", "x " b[k])
    printf "%s %10s\n", line, "matches"
    for (i = 1; i <= n; ++i) {
      if (metric[order[i]] != m) continue
      line = sprintf("%-40s %12.2f", order[i], value[order[i]] / scale)
      for (k = 1; k <= nb; ++k) line = line sprintf(" %26s", ratio(order[i], b[k]))
      printf "%s %10s\n", line, count[order[i]]
    }
  }
  END {
    table("ns_per_eval", "Benchmark 1: predicate evaluated per record (lower is better)",
          "ns/eval", 1, nsb)
    table("profiles_per_s", "Benchmark 2: audience scan (higher is better)",
          "M profiles/s", 1e6, rateb)
    printf "\nx B = time per record relative to baseline B (above 1: slower than B).\n"
    if (mismatch != "") {
      printf "\nCOUNT MISMATCH between engines:\n%s", mismatch
      exit 1
    }
  }' "$results" || failed=1

awk -F'\t' '
  $2 == "ns_per_event" { n[$1] = $3; order[++k] = $1; if (base == "") base = $1 }
  $2 == "events_per_s" { eps[$1] = $3 }
  $2 == "seconds" { secs[$1] = $3; corder[++c] = $1 }
  $2 == "peak_rss_mb" { rss[$1] = $3 }
  $2 == "decisions_per_s" { dps[$1] = $3; dorder[++dn] = $1; dcount[$1] = $4 }
  END {
    if (k) {
      printf "\nBenchmark 3: streaming events through the engine\n%-40s %14s %12s %16s\n", "variant", "events/s", "ns/event", "x " base
      for (i = 1; i <= k; ++i) printf "%-40s %14.0f %12.1f %16.2f\n", order[i], eps[order[i]], n[order[i]], n[order[i]] / n[base]
    }
    if (dn) {
      printf "\nDecisions with enforcement and a ledger (1,000 strategies)\n%-40s %14s %12s\n", "variant", "decisions/s", "decisions"
      for (i = 1; i <= dn; ++i) printf "%-40s %14.0f %12s\n", dorder[i], dps[dorder[i]], dcount[dorder[i]]
    }
    if (c) {
      printf "\nBenchmark 4: check + compile\n%-40s %10s %14s\n", "variant", "seconds", "peak RSS MB"
      for (i = 1; i <= c; ++i) printf "%-40s %10.3f %14.1f\n", corder[i], secs[corder[i]], rss[corder[i]]
    }
  }' "$extra"

# The JIT (issue 11), when crm_bench was built with it: each JIT figure next to the VM's and the
# native baselines' from this same run. Ratios are speed-ups: above 1, the JIT is faster.
cat "$results" "$extra" | awk -F'\t' '
  { v[$1 "|" $2] = $3 }
  function get(name, metric) { return (name "|" metric) in v ? v[name "|" metric] : "" }
  function rat(a, b) { return (a == "" || b == "" || a == 0 || b == 0) ? "-" : sprintf("%.2f", a / b) }
  END {
    if (get("crm/jit_per_record", "ns_per_eval") == "" && get("crm/jit_batch", "profiles_per_s") == "") exit
    printf "\nThe JIT (issue 11): speed-up over each baseline (above 1: the JIT is faster)\n"
    printf "%-44s %12s %10s %14s %18s %18s\n", "benchmark", "JIT", "crm VM", "x crm VM", "x native interned", "x native br-free"
    j = get("crm/jit_per_record", "ns_per_eval")
    if (j != "")
      printf "%-44s %12.2f %10.2f %14s %18s %18s\n", "predicate per record, ns/eval (goal <= 3)", j,
             get("crm/vm_per_record", "ns_per_eval"), rat(get("crm/vm_per_record", "ns_per_eval"), j),
             rat(get("native/interned", "ns_per_eval"), j), rat(get("native/branch_free", "ns_per_eval"), j)
    j = get("crm/jit_batch", "profiles_per_s")
    if (j != "")
      printf "%-44s %12.1f %10.1f %14s %18s %18s\n", "audience scan, M profiles/s (goal >= 1,500)", j / 1e6,
             get("crm/batch_vm", "profiles_per_s") / 1e6, rat(j, get("crm/batch_vm", "profiles_per_s")),
             rat(j, get("native/audience_branchy", "profiles_per_s")), rat(j, get("native/audience_branch_free", "profiles_per_s"))
    j = get("crm/streaming_1000_strategies_jit", "events_per_s")
    if (j != "")
      printf "%-44s %12.0f %10.0f %14s %18s %18s\n", "streaming 1,000 strategies, events/s (>= 1.3x)", j,
             get("crm/streaming_1000_strategies", "events_per_s"), rat(j, get("crm/streaming_1000_strategies", "events_per_s")), "-", "-"
    printf "(audience: the native columns are native/audience_branchy and native/audience_branch_free)\n"
    for (k in v) {
      split(k, p, "|")
      if (p[1] ~ /^crm\/jit_(compile|startup|reload|first_event|second_event|third_event)_/ && p[2] == "seconds") names[p[1]] = 1
    }
    for (nm in names) {
      mb = get(nm, "code_mb")
      printf "%-44s %10.3f s%s\n", nm, get(nm, "seconds"), mb == "" ? "" : sprintf(", %.2f MB of code", mb)
    }
  }'

exit "$failed"
