#!/usr/bin/env bash
# cli.sh CRM - `crm run --threads`: its errors are clear usage errors (0, not a number, and what
# threads do not support yet: scheduled strategies, referral grants, automatic roll-out, an allowed lateness, a limit
# on all pending timers), and a malformed or late line stops (or is skipped) exactly where and as
# it does with one thread: the same decisions, messages and summary.
set -euo pipefail
crm=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect CODE TEXT ARGS...: the exit code and a line of stderr
  local code=$1 text=$2
  shift 2
  set +e
  "$crm" run "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  set -e
  [ "$rc" -eq "$code" ] || fail "crm run $* exited with $rc, not $code: $(cat "$tmp/err")"
  grep -qF -- "$text" "$tmp/err" || fail "crm run $* did not say '$text': $(cat "$tmp/err")"
}
python3 "$here/gen.py" 200 600 >"$tmp/events.jsonl"
p=$here/threads.crm
expect 2 "--threads: takes a positive whole number, not \`0\`" "$p" --events "$tmp/events.jsonl" --threads 0
expect 2 "--threads: takes a positive whole number, not \`two\`" "$p" --events "$tmp/events.jsonl" --threads two
expect 2 "--threads: takes a positive whole number, not \`-1\`" "$p" --events "$tmp/events.jsonl" --threads -1
expect 2 "--threads 2: strategy \`d11_warmup\` is scheduled (\`at\`/\`every\`)" "$root/examples/double11.crm" \
  --events "$tmp/events.jsonl" --threads 2
expect 2 "referral grants are not supported with more than one thread yet" "$root/examples/lucky_and_referral.crm" \
  --events "$tmp/events.jsonl" --threads 3
cat >"$tmp/rollout.crm" <<'CRM'
event Visit { page: String }
event Order { amount: Money(CNY) }
resource sms a { text: "A" }
resource sms b { text: "B" }
strategy test for business "mall" {
    who: true
    when: on Visit between 2026-11-01T00:00+08:00 and 2026-11-11T00:00+08:00
    what: send a via SMS for arm A, send b via SMS for arm B
    split: control 10%, variants A 10%, B 10%
    rollout: best of (A, B) by conversion after 2 days
}
CRM
expect 2 "--threads 2: strategy \`test\` rolls out the winner of its test (\`rollout:\`)" "$tmp/rollout.crm" \
  --events "$tmp/events.jsonl" --threads 2
expect 2 "--threads 2: an allowed lateness above 0 is not supported" "$p" --events "$tmp/events.jsonl" --threads 2 \
  --allowed-lateness 1m
expect 2 "--threads 2: a limit on all users' pending timers (--max-pending-timers)" "$p" --events "$tmp/events.jsonl" \
  --threads 2 --max-pending-timers 5
# One thread is the single engine, whatever the program.
"$crm" run "$root/examples/double11.crm" --profiles "$root/examples/data/shop_profiles.csv" \
  --events "$root/examples/data/shop_events.jsonl" --threads 1 -q >/dev/null 2>&1 ||
  fail "--threads 1 refused a scheduled program"

# A malformed line (101) and a late one (202): stop, or skip and count, as one thread does.
{ head -100 "$tmp/events.jsonl"; echo '{"id":"x1","type":"Order","user":"u1","time":"soon","amount":5,"store":"s"}'
  sed -n 101,200p "$tmp/events.jsonl"; sed -n 50p "$tmp/events.jsonl"; sed -n 201,600p "$tmp/events.jsonl"; } >"$tmp/bad.jsonl"
for mode in stop skip; do
  for t in 1 2 3; do
    set +e
    "$crm" run "$p" --events "$tmp/bad.jsonl" --threads $t --on-error=$mode --format json -o "$tmp/$mode$t.jsonl" \
      2>"$tmp/$mode$t.err"
    echo $? >"$tmp/$mode$t.rc"
    set -e
    # The summary's timing differs from run to run.
    sed -i 's/"seconds":[0-9.]*,//' "$tmp/$mode$t.err"
  done
  for t in 2 3; do
    cmp -s "$tmp/${mode}1.jsonl" "$tmp/$mode$t.jsonl" || fail "--on-error=$mode: --threads $t decided other lines"
    cmp -s "$tmp/${mode}1.rc" "$tmp/$mode$t.rc" || fail "--on-error=$mode: --threads $t exited otherwise"
    diff "$tmp/${mode}1.err" "$tmp/$mode$t.err" || fail "--on-error=$mode: --threads $t said otherwise"
  done
done
grep -q 'bad.jsonl:101: `time` must be an ISO-8601 time' "$tmp/stop2.err" || fail "no FILE:LINE for the malformed line"
grep -Eq 'bad.jsonl:202: (late event|out of order)' "$tmp/skip2.err" || fail "no FILE:LINE for the late line"
[ "$(cat "$tmp/stop2.rc")" -ne 0 ] || fail "a stopped run exited 0"
[ "$(wc -l <"$tmp/stop2.jsonl")" -gt 100 ] || fail "the decisions before the malformed line were not written"
expect 2 "--threads 300: threads must be at most 256" "$p" --events "$tmp/events.jsonl" --threads 300

# An event id reused by users of two threads: one engine answers the second from the ledger (the
# first's decisions); threads refuse it (a FILE:LINE error) rather than decide it twice, and the
# ledger stays restartable.
for u in 0 1 2 3 4 5 6 7; do
  echo "{\"id\":\"dup\",\"type\":\"Order\",\"user\":\"u$u\",\"time\":\"2026-11-12T00:00:0${u}Z\",\"amount\":70,\"store\":\"s\"}"
done >"$tmp/dup.jsonl"
for round in 1 2; do
  "$crm" run "$p" --events "$tmp/dup.jsonl" --threads 2 --on-error=skip --state "sqlite:$tmp/dup.db" -o "$tmp/dup$round.jsonl" \
    2>"$tmp/dup$round.err" || fail "a reused id stopped the run (round $round): $(cat "$tmp/dup$round.err")"
  grep -q 'dup.jsonl:[0-9]*: event id "dup" was used in this run by a user of another thread' "$tmp/dup$round.err" ||
    fail "no error for an id reused on another thread: $(cat "$tmp/dup$round.err")"
done
cmp -s "$tmp/dup1.jsonl" "$tmp/dup2.jsonl" || fail "the restarted run reported otherwise"
[ "$(sqlite3 "$tmp/dup.db" "SELECT count(*) FROM crm_units WHERE unit = 'dup'")" -eq 1 ] || fail "the id was recorded twice"

echo "ok: --threads errors are clear; refused lines stop or are skipped as with one thread"
