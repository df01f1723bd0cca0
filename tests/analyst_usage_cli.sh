#!/usr/bin/env bash
# analyst_usage_cli.sh CRM - exit codes of the analyst commands agree with `crm run`'s: a program
# file that cannot be read is exit 3 for forecast, report and import hillstrom --program (as
# for check and run); `import hillstrom --state memory` is a usage error (exit 2), since the
# ledger it records is the import's point.
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
echo "ok"
