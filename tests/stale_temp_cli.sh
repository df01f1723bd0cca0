#!/usr/bin/env bash
# stale_temp_cli.sh CRM - a replaced output's temporary file left by a writer that was killed
# (kill -9 cannot be cleaned up after) is removed by the next command that replaces the same
# output (cli/io.h): named `.BASE.tmp-PID.XXXXXX`, it goes once PID is no live process and nobody
# holds its flock. A real `crm import` killed with SIGKILL mid-write leaves one, the next import
# removes it; one of a live pid, or locked by a live process (a writer on another host), and the
# temporary files of another output are kept. compile -o, format --write and report -o replace
# their outputs the same way.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
temps() { ls -A "${1:-.}" | grep -E "^\.${2:-ev\.jsonl}\.tmp-[0-9]+\.[A-Za-z0-9]{6}$" || true; }

# A dead pid: a process that has ended (and been reaped).
sh -c 'exit 0' & dead=$!
wait "$dead"

# A real kill -9 mid-write: a CDNOW input large enough that the import is seen converting.
awk 'BEGIN { print "customer_id,date,number_of_cds,dollar_value";
             for (i = 1; i <= 600000; i++) printf "%05d,1997-%02d-%02d,%d,%d.%02d\n", i % 23570, i % 12 + 1, i % 28 + 1, i % 5 + 1, i % 300, i % 100 }' >big.csv
printf 'customer_id,date,number_of_cds,dollar_value\n00001,1997-01-01,1,11.77\n' >small.csv
seen=
for attempt in 1 2 3 4 5; do
  "$crm" import cdnow big.csv -o ev.jsonl </dev/null >/dev/null 2>&1 & p=$!
  pids+=("$p")
  for _ in $(seq 2000); do
    [ -n "$(temps)" ] && break
    kill -0 "$p" 2>/dev/null || break
    sleep 0.005
  done
  if [ -n "$(temps)" ] && kill -9 "$p" 2>/dev/null; then
    wait "$p" 2>/dev/null || true
    [ -n "$(temps)" ] && { seen=1; break; }
  fi
  wait "$p" 2>/dev/null || true
done
[ -n "$seen" ] || fail "no temporary file seen while crm import ran (5 attempts)"
left=$(temps)
[ "$left" = ".ev.jsonl.tmp-$p.${left##*.}" ] || fail "the killed import's temporary file is not named with its pid: $left"
"$crm" import cdnow small.csv -o ev.jsonl 2>/dev/null || fail "import after the kill"
[ -z "$(temps)" ] || fail "the killed import's temporary file is still there: $(ls -A)"
[ "$(wc -l <ev.jsonl)" = 1 ] || fail "the import after the kill: $(cat ev.jsonl)"

# Planted: dead pid (removed), live pid (kept), dead pid but locked by a live process (kept: a
# writer elsewhere), another output's (kept), a name not of the pattern (kept).
# Background helpers keep no descriptor of the test's output (ctest waits for it to close).
sleep 300 </dev/null >/dev/null 2>&1 & live=$!
pids+=("$live")
echo x >".ev.jsonl.tmp-$dead.AbC123"
echo x >".ev.jsonl.tmp-$live.AbC124"
echo x >".ev.jsonl.tmp-$dead.AbC125"
# The lock's holder is the process killed at the end itself (it execs sleep holding the lock).
(exec 9<".ev.jsonl.tmp-$dead.AbC125"; flock 9; exec sleep 300) </dev/null >/dev/null 2>&1 & locker=$!
pids+=("$locker")
for _ in $(seq 200); do flock -n ".ev.jsonl.tmp-$dead.AbC125" true 2>/dev/null || break; sleep 0.01; done
echo x >".other.jsonl.tmp-$dead.AbC126"
echo x >".ev.jsonl.tmp-$dead.AbC12"
echo x >".ev.jsonl.tmp-x$dead.AbC127"
"$crm" import cdnow small.csv -o ev.jsonl 2>/dev/null || fail "import with planted temporaries"
for kept in ".ev.jsonl.tmp-$live.AbC124" ".ev.jsonl.tmp-$dead.AbC125" ".other.jsonl.tmp-$dead.AbC126" \
            ".ev.jsonl.tmp-$dead.AbC12" ".ev.jsonl.tmp-x$dead.AbC127"; do
  [ -e "$kept" ] || fail "$kept was removed"
done
[ ! -e ".ev.jsonl.tmp-$dead.AbC123" ] || fail "the dead writer's temporary file was kept"
# A symbolic link of the pattern is never followed nor removed.
ln -s small.csv ".ev.jsonl.tmp-$dead.AbC128"
"$crm" import cdnow small.csv -o ev.jsonl 2>/dev/null || fail "import with a planted link"
[ -L ".ev.jsonl.tmp-$dead.AbC128" ] && [ -s small.csv ] || fail "the planted link or its target was removed"

# In another directory, through compile -o, format --write and report -o.
mkdir sub
cat >p.crm <<'EOF2'
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: true  when: on Order  what: grant c via App }
EOF2
cp p.crm sub/f.crm
echo x >"sub/.p.crmc.tmp-$dead.AbC123"
echo x >"sub/.f.crm.tmp-$dead.AbC123"
echo x >"sub/.r.txt.tmp-$dead.AbC123"
"$crm" compile p.crm -o sub/p.crmc 2>/dev/null || fail "compile -o"
"$crm" format --write sub/f.crm 2>/dev/null || fail "format --write"
printf '{"id":"o1","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":10}\n' >e.jsonl
"$crm" run p.crm --events e.jsonl --state "sqlite:l.db" -q -o d.jsonl 2>/dev/null || fail "run"
"$crm" report p.crm --state sqlite:l.db -o sub/r.txt 2>/dev/null || fail "report -o"
[ -z "$(ls -A sub | grep tmp- || true)" ] || fail "temporary files left in sub: $(ls -A sub)"
echo ok
