#!/usr/bin/env bash
# analyst_usage_cli.sh CRM - exit codes of the analyst commands agree with `crm run`'s: a program
# file that cannot be read is exit 3 for forecast, report and import hillstrom --program (as
# for check and run); `import hillstrom --state memory` is a usage error (exit 2), since the
# ledger it records is the import's point. Every duration option has one syntax and one bound in
# every unit (3652059d, the years 0001-9999 = 315537897600s): at the bound a duration is read,
# just past it a usage error that names the bound, whatever the unit (--shift in seconds was
# capped at 9 digits while the same span in minutes passed).
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
code() { set +e; "$@" >/dev/null 2>err.txt; echo $?; set -e; }
printf '{"id":"v1","type":"Visit","user":"u1","time":"2026-03-01T10:00:00Z"}\n' >e.jsonl
printf 'recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n' >h.csv
printf '10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n' >>h.csv
mkdir adir
for p in nonexist.crm adir; do
  [ "$(code "$crm" run "$p" --events e.jsonl)" = 3 ] || fail "run $p: $(cat err.txt)"
  [ "$(code "$crm" forecast "$p" --events e.jsonl --shift 1d)" = 3 ] || fail "forecast $p: $(cat err.txt)"
  grep -q "^crm: cannot read \`$p\`" err.txt || fail "forecast $p message: $(cat err.txt)"
  [ "$(code "$crm" report "$p" --state sqlite:none.db)" = 3 ] || fail "report $p: $(cat err.txt)"
  [ "$(code "$crm" import hillstrom h.csv --state sqlite:h.db --events-out o.jsonl --program "$p")" = 3 ] ||
    fail "import --program $p: $(cat err.txt)"
done
[ "$(code "$crm" import hillstrom h.csv --state memory --events-out m.jsonl)" = 2 ] || fail "--state memory: $(cat err.txt)"
grep -q "import hillstrom records a SQLite ledger" err.txt || fail "--state memory message: $(cat err.txt)"
[ ! -e m.jsonl ] || fail "--state memory wrote the events"

printf 'module m\nevent Visit {}\n' >m.crm
# -1000000000s (31.7 years back) is a forecast like -16666667m.
[ "$(code "$crm" forecast m.crm --events e.jsonl --shift -1000000000s)" = 0 ] || fail "--shift -1000000000s: $(cat err.txt)"
[ "$(code "$crm" forecast m.crm --events e.jsonl --shift -16666667m)" = 0 ] || fail "--shift -16666667m: $(cat err.txt)"
# At the bound the shift is read (then moves the events out of the years: exit 1, the shift
# named); one unit past it, in each unit, is a usage error naming the bound.
for at in 3652059d 87649416h 5258964960m 315537897600s 315537897600; do
  [ "$(code "$crm" forecast m.crm --events e.jsonl --shift "$at")" = 1 ] && grep -q "the shift moves" err.txt ||
    fail "--shift $at at the bound: $(cat err.txt)"
  [ "$(code "$crm" forecast m.crm --events e.jsonl --shift "-$at")" = 1 ] || fail "--shift -$at: $(cat err.txt)"
done
bound="(at most 3652059d, the span of the years 0001-9999, in any unit)"
for past in 3652060d 87649417h 5258964961m 315537897601s 99999999999999999999s; do
  [ "$(code "$crm" forecast m.crm --events e.jsonl --shift "-$past")" = 2 ] && grep -qF -- "--shift \`-$past\` is not a duration such as 365d, 36h or -30d $bound" err.txt ||
    fail "--shift -$past: $(cat err.txt)"
  [ "$(code "$crm" forecast m.crm --events e.jsonl --shift 1d --max-time-jump "$past")" = 2 ] && grep -qF "$bound" err.txt ||
    fail "forecast --max-time-jump $past: $(cat err.txt)"
  [ "$(code "$crm" forecast m.crm --events e.jsonl --shift 1d --allowed-lateness "$past")" = 2 ] && grep -qF "$bound" err.txt ||
    fail "forecast --allowed-lateness $past: $(cat err.txt)"
  for opt in --max-time-jump --allowed-lateness --dedup-window; do
    [ "$(code "$crm" run m.crm --events e.jsonl "$opt" "$past")" = 2 ] && grep -qF -- "$opt" err.txt && grep -qF "$bound" err.txt ||
      fail "run $opt $past: $(cat err.txt)"
  done
  for opt in --window --silent --dedup-window; do
    [ "$(code "$crm" report --state sqlite:none.db "$opt" "$past")" = 2 ] && grep -qF -- "$opt" err.txt && grep -qF "$bound" err.txt ||
      fail "report $opt $past: $(cat err.txt)"
  done
done
for opt in --max-time-jump --allowed-lateness --dedup-window; do
  [ "$(code "$crm" run m.crm --events e.jsonl "$opt" 315537897600s)" = 0 ] || fail "run $opt at the bound: $(cat err.txt)"
done
# A malformed duration is not told about the bound.
[ "$(code "$crm" forecast m.crm --events e.jsonl --shift 1w)" = 2 ] && ! grep -q "at most" err.txt || fail "--shift 1w: $(cat err.txt)"
[ "$(code "$crm" report --state sqlite:none.db --window 0d)" = 2 ] && grep -q -- "--window \`0d\` is not a duration" err.txt ||
  fail "--window 0d: $(cat err.txt)"
echo "ok"
