#!/usr/bin/env bash
# run_huge_pages.sh CRM - `crm run` starts itself again with GLIBC_TUNABLES=glibc.malloc.hugetlb=1
# (cli/main.cc, restart_with_huge_pages) under the same pid when the kernel offers transparent
# huge pages; not when GLIBC_TUNABLES is already set (kept as given) nor with
# CRM_MALLOC_HUGEPAGES=0; and the decisions are the same in all three cases. The environment is
# read from /proc/PID/environ while crm waits on its events (a FIFO): past the restart.
set -euo pipefail
crm=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
program=$here/threads/threads.crm
python3 "$here/threads/gen.py" 50 400 >"$tmp/events.jsonl"
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "[never]")
want=glibc.malloc.hugetlb=1
case $thp in *"[never]"*) want= ;; esac
# run NAME EXPECTED ENV... - crm run with ENV (env(1) arguments), reading the FIFO; EXPECTED is
# the GLIBC_TUNABLES its process must have.
run() {
  local name=$1 expected=$2
  shift 2
  mkfifo "$tmp/in.$name"
  exec 3<>"$tmp/in.$name"  # a writer already, so crm's open does not wait
  env "$@" "$crm" run "$program" --events "$tmp/in.$name" -q -o "$tmp/out.$name" 3>&- &
  pid=$!
  # Once crm has opened its events, any restart is behind it.
  local waited=0
  until ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "in.$name"; do
    kill -0 "$pid" 2>/dev/null || fail "$name: crm ended before reading its events"
    [ $waited -lt 200 ] || fail "$name: crm did not open its events within 10 s"
    sleep 0.05
    waited=$((waited + 1))
  done
  [ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$crm")" ] || fail "$name: pid $pid is not crm"
  local got
  got=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^GLIBC_TUNABLES=//p')
  cat "$tmp/events.jsonl" >&3
  exec 3>&-
  wait "$pid" || fail "$name: crm run failed"
  pid=
  [ "$got" = "$expected" ] || fail "$name: GLIBC_TUNABLES is '$got', expected '$expected' (THP: $thp)"
  [ -s "$tmp/out.$name" ] || fail "$name: no decisions"
}
run default "$want" -u GLIBC_TUNABLES -u CRM_MALLOC_HUGEPAGES
run off "" -u GLIBC_TUNABLES CRM_MALLOC_HUGEPAGES=0
run own glibc.malloc.check=0 -u CRM_MALLOC_HUGEPAGES GLIBC_TUNABLES=glibc.malloc.check=0
cmp "$tmp/out.default" "$tmp/out.off" || fail "decisions differ with and without huge pages"
cmp "$tmp/out.default" "$tmp/out.own" || fail "decisions differ with the user's own tunables"
echo "ok: GLIBC_TUNABLES '$want' by default (THP: $thp), none with CRM_MALLOC_HUGEPAGES=0, the user's kept"
