#!/usr/bin/env bash
# duplicates_cli.sh CRM - a key given twice is refused, never read as whichever came last:
#   * an event line giving a member the program reads twice (`user`, `type`, a declared field) is
#     refused at its line, naming the member and the column of the second, handled by --on-error
#     like any malformed line, counted under its reason, the same with --threads 2; an undeclared
#     member given twice is ignored like the member itself;
#   * `crm report --events` refuses such a line too.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$tmp"
cat >p.crm <<'CRM'
profile { level: Int = 0 }
event Visit { page: String }
resource push hi { body: "hi" }
strategy s { who: level < 3  when: on Visit  what: send hi via Push }
CRM
t='"time":"2026-01-01T00:00:00Z"'
{
  echo '{"type":"Visit","id":"v1","user":"u1","user":"u2",'"$t"',"page":"a"}'
  echo '{"type":"Visit","id":"v2","user":"ann",'"$t"',"page":"a","page":"b"}'
  echo '{"type":"Visit","type":"Nope","id":"v3","user":"ann",'"$t"',"page":"a"}'
  echo '{"type":"Visit","id":"v4","user":"bob",'"$t"',"page":"a","x":1,"x":2}'
} >e.jsonl

# --- events: stop at the first, then skip each; one thread and two -----------------------------
for threads in 1 2; do
  set +e
  "$crm" run p.crm --events e.jsonl --threads $threads >out 2>err
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "threads $threads: exit $rc, not 1: $(cat err)"
  grep -qF 'e.jsonl:1: column 39: member `user` appears twice (first at column 27)' err ||
    fail "threads $threads: no refusal of line 1: $(cat err)"
  [ ! -s out ] || fail "threads $threads: a decision for a refused line: $(cat out)"
  "$crm" run p.crm --events e.jsonl --threads $threads --on-error=skip >out 2>err ||
    fail "threads $threads: skip run failed: $(cat err)"
  grep -qF 'e.jsonl:2: column 81: member `page` appears twice (first at column 70)' err || fail "line 2: $(cat err)"
  grep -qF 'e.jsonl:3: column 17: member `type` appears twice (first at column 2)' err || fail "line 3: $(cat err)"
  grep -qF 'skipped member `user` appears twice: 1' err || fail "threads $threads: reason of user: $(cat err)"
  grep -qF 'skipped member `page` appears twice: 1' err || fail "threads $threads: reason of page: $(cat err)"
  # Only bob's line is decided (its undeclared `x` twice is ignored).
  [ "$(wc -l <out)" -eq 1 ] && grep -qF '"event":"v4","user":"bob"' out ||
    fail "threads $threads: decisions: $(cat out)"
done

# --- crm report --events: the same line is refused ----------------------------------------------
sed -n 4p e.jsonl >bob.jsonl
"$crm" run p.crm --events bob.jsonl --state sqlite:l.db -q >/dev/null 2>err || fail "ledger: $(cat err)"
set +e
"$crm" report --state sqlite:l.db --events e.jsonl >out 2>err
rc=$?
set -e
[ $rc -eq 1 ] || fail "report: exit $rc, not 1: $(cat err)"
grep -qF 'e.jsonl:1: column 39: member `user` appears twice (first at column 27)' err || fail "report: $(cat err)"

echo "ok: members given twice are refused at their lines"
