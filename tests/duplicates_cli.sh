#!/usr/bin/env bash
# duplicates_cli.sh CRM - a key given twice is refused, never read as whichever came last:
#   * an event line giving a member the program reads twice (`user`, `type`, a declared field) is
#     refused at its line, naming the member and the column of the second, handled by --on-error
#     like any malformed line, counted under its reason, the same with --threads 2; an undeclared
#     member given twice is ignored like the member itself;
#   * `crm report --events` refuses such a line too;
#   * a profiles file (JSON Lines or CSV) giving a user two records is refused at the second,
#     naming the user and the first's line, by every command reading profiles (run with one and
#     two threads, audience, explain, forecast, check --data); skipped, the first record stays.
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

# --- profiles: a user's second record ----------------------------------------------------------
printf '{"user":"ann","level":1}\n{"user":"bob","level":2}\n{"user":"ann","level":3}\n' >pr.jsonl
printf 'user,level\nann,1\nbob,2\nann,3\n' >pr.csv
echo '{"type":"Visit","id":"a1","user":"ann",'"$t"',"page":"a"}' >ann.jsonl
at=2026-01-02T00:00:00Z
# `crm check --data` reads the sample for two strategies that may overlap (W0105).
cat >p2.crm <<'CRM'
profile { level: Int = 0 }
resource coupon c10 { discount: 10 CNY }
strategy low for business "mall" { who: level < 3  when: at 2026-11-11T00:00Z  what: grant c10 }
strategy all for business "mall" { who: true  when: at 2026-11-11T00:00Z  what: grant c10 }
CRM
for f in pr.jsonl pr.csv; do
  want="$f:3: user \`ann\` appears twice (first on line 1)"
  [ $f = pr.csv ] && want="$f:4: user \`ann\` appears twice (first on line 2)"
  for cmd in "run p.crm --events ann.jsonl" "run p.crm --events ann.jsonl --threads 2" \
    "audience p.crm --events ann.jsonl --at $at" "explain p.crm --events ann.jsonl --user ann --at $at" \
    "forecast p.crm --events ann.jsonl --shift 1d"; do
    set +e
    # shellcheck disable=SC2086
    "$crm" $cmd --profiles $f >out 2>err
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "$cmd --profiles $f: exit $rc, not 1: $(cat err)"
    grep -qF "$want" err || fail "$cmd --profiles $f: no '$want' in: $(cat err)"
  done
  set +e
  "$crm" check p2.crm --data $f >out 2>err
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "check --data $f: exit $rc, not 1: $(cat err)"
  grep -qF "$want" err || fail "check --data $f: no '$want' in: $(cat err)"
  # Skipped: the first record stays (ann's level 1 < 3: her visit is granted; level 3 was kept).
  for threads in 1 2; do
    "$crm" run p.crm --events ann.jsonl --profiles $f --on-error=skip --threads $threads >out 2>err ||
      fail "skip $f threads $threads: $(cat err)"
    grep -qF "$want" err || fail "skip $f: no '$want' in: $(cat err)"
    grep -qF '"user":"ann","strategy":"s","outcome":"granted"' out || fail "skip $f threads $threads: $(cat out err)"
  done
done
echo "ok: members given twice and users' second profiles are refused at their lines"
