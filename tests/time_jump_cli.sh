#!/usr/bin/env bash
# time_jump_cli.sh CRM - `crm run --max-time-jump`: an event whose time is far ahead of the
# stream (2062 typed for 2026) is refused at its line, naming its time, the clock and the option;
# it is not decided and does not move the clock. Without the limit it moved the clock 36 years
# on and every later event was refused as late (also on a restart from the ledger). Skipped, the
# run decides what it decides without the line, also with a ledger and its restart; a run given
# only new events is measured from the ledger's clock; --threads 2 decides and refuses exactly
# as one thread; --until that far is refused too; the option's values are checked.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run() {  # run CODE ARGS...: crm run; stdout in $tmp/out, stderr in $tmp/err
  local code=$1
  shift
  set +e
  timeout 60 "$crm" run "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  set -e
  [ "$rc" -ne 124 ] || fail "crm run $* did not finish within 60 s"
  [ "$rc" -eq "$code" ] || fail "crm run $* exited with $rc, not $code: $(cat "$tmp/err")"
}
said() { grep -qF -- "$1" "$tmp/err" || fail "stderr did not say '$1': $(cat "$tmp/err")"; }

cat >"$tmp/p.crm" <<'CRM'
event Visit { page: String }
resource push hi { body: "hi" }
strategy greet {
  who: true
  when: on Visit
  what: send hi via Push
}
CRM
visit() { echo "{\"type\":\"Visit\",\"id\":\"$1\",\"user\":\"$2\",\"time\":\"$3\",\"page\":\"a\"}"; }
{
  visit v1 ann 2026-01-01T00:00:00Z
  visit v2 bob 2026-01-02T00:00:00Z
  visit v3 cat 2062-01-02T00:00:00Z
  visit v4 cat 2026-01-03T00:00:00Z
  visit v5 dan 2026-01-04T00:00:00Z
} >"$tmp/typo.jsonl"
grep -v 2062 "$tmp/typo.jsonl" >"$tmp/plain.jsonl"
refusal="typo.jsonl:3: too far ahead: the event at 2062-01-02T00:00:00Z is 13149 days after the stream's clock at 2026-01-02T00:00:00Z, more than --max-time-jump allows (366 days); a time this far ahead is likely wrong (a typo in the year?) and would make every later event late, else raise the limit with --max-time-jump D (0: no limit)"

run 0 "$tmp/p.crm" --events "$tmp/plain.jsonl"
cp "$tmp/out" "$tmp/plain.out"
[ "$(grep -c granted "$tmp/plain.out")" -eq 4 ] || fail "the plain run did not grant 4: $(cat "$tmp/plain.out")"

for threads in 1 2; do
  # Stop (the default): refused at line 3, the two lines before it decided.
  run 1 "$tmp/p.crm" --events "$tmp/typo.jsonl" --threads $threads
  said "$refusal"
  said "crm: stopped at the first malformed event"
  head -2 "$tmp/plain.out" | cmp -s - "$tmp/out" || fail "threads $threads: the stopped run did not decide lines 1-2 only: $(cat "$tmp/out")"
  grep -F "typo.jsonl:" "$tmp/err" >"$tmp/refusals.stop.$threads"

  # Skip: exactly the decisions of the input without the line, the next events not late.
  run 0 "$tmp/p.crm" --events "$tmp/typo.jsonl" --on-error=skip --threads $threads
  said "$refusal"
  said "skipped too far ahead: 1"
  cmp -s "$tmp/out" "$tmp/plain.out" || fail "threads $threads: skipping the far event changed the decisions"
  grep -F "typo.jsonl:" "$tmp/err" >"$tmp/refusals.skip.$threads"

  # With a ledger, and its restart on the same input: the same, and nothing late.
  rm -f "$tmp/l$threads.db"*
  run 0 "$tmp/p.crm" --events "$tmp/typo.jsonl" --on-error=skip --state "sqlite:$tmp/l$threads.db" --threads $threads
  cmp -s "$tmp/out" "$tmp/plain.out" || fail "threads $threads: skipping the far event changed the decisions with a ledger"
  run 0 "$tmp/p.crm" --events "$tmp/typo.jsonl" --on-error=skip --state "sqlite:$tmp/l$threads.db" --threads $threads
  cmp -s "$tmp/out" "$tmp/plain.out" || fail "threads $threads: the restart on the ledger decided otherwise"
  said "$refusal"
  # A run given only new events starts from the ledger's clock (its latest event or decision).
  { visit v6 eve 2062-01-05T00:00:00Z; visit v7 eve 2026-01-05T00:00:00Z; } >"$tmp/new.jsonl"
  run 0 "$tmp/p.crm" --events "$tmp/new.jsonl" --on-error=skip --state "sqlite:$tmp/l$threads.db" --threads $threads
  said "new.jsonl:1: too far ahead: the event at 2062-01-05T00:00:00Z is 13150 days after the ledger's clock (its latest event or decision) at 2026-01-04T00:00:00Z"
  [ "$(wc -l <"$tmp/out")" -eq 1 ] && grep -q '"event":"v7"' "$tmp/out" || fail "threads $threads: v7 was not decided: $(cat "$tmp/out")"
  grep -F "new.jsonl:" "$tmp/err" >"$tmp/refusals.new.$threads"
done
for kind in stop skip new; do
  cmp -s "$tmp/refusals.$kind.1" "$tmp/refusals.$kind.2" ||
    fail "--threads 2 refused otherwise than one thread ($kind): $(cat "$tmp/refusals.$kind.1") / $(cat "$tmp/refusals.$kind.2")"
done

# Without the limit the far event moves the clock and the rest of the stream is late: the fault.
run 0 "$tmp/p.crm" --events "$tmp/typo.jsonl" --on-error=skip --max-time-jump 0
said "typo.jsonl:5: late event"
# A limit large enough takes the line; one exactly the gap takes it too (the limit is inclusive).
run 0 "$tmp/p.crm" --events "$tmp/typo.jsonl" --on-error=skip --max-time-jump 13149d
[ "$(grep -c granted "$tmp/out")" -eq 3 ] || fail "--max-time-jump 13149d did not take the far line: $(cat "$tmp/out")"
run 1 "$tmp/p.crm" --events "$tmp/plain.jsonl" --max-time-jump 23h
said "plain.jsonl:2: too far ahead: the event at 2026-01-02T00:00:00Z is 1 day after the stream's clock at 2026-01-01T00:00:00Z, more than --max-time-jump allows (23 hours)"

# --until that far is refused too; a usable one still runs.
run 1 "$tmp/p.crm" --events "$tmp/plain.jsonl" --until 2062-01-04T00:00:00Z
said "crm: --until: too far ahead: moving the clock to 2062-01-04T00:00:00Z"
run 0 "$tmp/p.crm" --events "$tmp/plain.jsonl" --until 2026-06-01T00:00:00Z

run 2 "$tmp/p.crm" --events "$tmp/plain.jsonl" --max-time-jump soon
said "--max-time-jump takes a duration such as 30d, 366d or 2h (0: no limit), not \`soon\`"
"$crm" run --help | grep -q -- "--max-time-jump D" || fail "crm run --help does not list --max-time-jump"
echo "ok: the far event refused at its line (1 and 2 threads alike), skipped without a trace, the ledger's clock counts"
