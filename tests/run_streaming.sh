#!/usr/bin/env bash
# run_streaming.sh CRM - `crm run` without a state writes decisions while it reads (every
# --commit-every decisions), not all at the end: from a pipe whose writer is still open, the
# first decisions arrive before the input ends; and the output is the same as from a file.
# (Before, a run without --state held every decision in memory until the end of its input.)
set -euo pipefail
crm=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
program=$here/threads/threads.crm
python3 "$here/threads/gen.py" 50 400 >"$tmp/events.jsonl"
"$crm" run "$program" --events "$tmp/events.jsonl" -q -o "$tmp/file.jsonl"
[ -s "$tmp/file.jsonl" ] || fail "the run from a file decided nothing"

mkfifo "$tmp/in"
"$crm" run "$program" --events "$tmp/in" -q --commit-every 1 -o "$tmp/pipe.jsonl" &
pid=$!
exec 3>"$tmp/in"
head -200 "$tmp/events.jsonl" >&3
# The writer stays open: decisions of the first 200 events must arrive meanwhile.
for _ in $(seq 100); do
  [ -s "$tmp/pipe.jsonl" ] && break
  sleep 0.1
done
[ -s "$tmp/pipe.jsonl" ] || fail "no decision was written within 10 s while the input stayed open"
early=$(wc -l <"$tmp/pipe.jsonl")
tail -n +201 "$tmp/events.jsonl" >&3
exec 3>&-
wait "$pid" || fail "crm run from a pipe failed"
pid=
cmp -s "$tmp/file.jsonl" "$tmp/pipe.jsonl" || fail "the decisions from the pipe differ from those from the file"
echo "ok: $early decisions written before the input ended; $(wc -l <"$tmp/pipe.jsonl") in all, as from the file"
