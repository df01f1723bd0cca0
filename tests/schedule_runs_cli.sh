#!/usr/bin/env bash
# schedule_runs_cli.sh CRM - `crm run --max-schedule-runs`: an event far ahead of the stream (year
# 9999) under an `every` strategy is refused at once with its line, the limit and how to raise it,
# rather than running every hourly instant up to it (about 70 million: the run hung, its memory
# growing). Skipped (--on-error=skip), the run decides exactly what it decides without the line,
# also with a ledger; --until that far is refused the same way; the option's values are checked;
# and --threads 2 refuses a scheduled program up front (schedules do not run on threads yet).
# Year 9999 is also far beyond --max-time-jump (default 366 days), whose refusal comes first:
# the runs that test this limit pass --max-time-jump 0 (tests/time_jump_cli.sh tests that one).
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run() {  # run CODE ARGS...: crm run, bounded in time; stdout in $tmp/out, stderr in $tmp/err
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
strategy hourly {
  who: true
  when: every 1 hour
  what: send hi via Push
}
CRM
visit() { echo "{\"type\":\"Visit\",\"id\":\"$1\",\"user\":\"$2\",\"time\":\"$3\",\"page\":\"a\"}"; }
{
  visit v1 ann 2026-01-01T00:00:00Z
  visit v2 bob 2026-01-01T05:30:00Z
  visit v3 cat 9999-01-01T00:00:00Z
  visit v4 cat 2026-01-01T07:00:00Z
} >"$tmp/far.jsonl"
grep -v 9999 "$tmp/far.jsonl" >"$tmp/plain.jsonl"

run 0 "$tmp/p.crm" --events "$tmp/plain.jsonl"
cp "$tmp/out" "$tmp/plain.out"
[ "$(wc -l <"$tmp/plain.out")" -gt 5 ] || fail "the plain run decided too little: $(cat "$tmp/plain.out")"

run 1 "$tmp/p.crm" --events "$tmp/far.jsonl" --max-time-jump 0
said "far.jsonl:3: too many scheduled runs at once: the event at 9999-01-01T00:00:00Z would bring more than 100000 scheduled runs due at once (strategy \`hourly\` among them; the stream's clock is at 2026-01-01T05:30:00Z)"
said "raise the limit with --max-schedule-runs N (0: no limit)"
said "crm: stopped at the first malformed event"

run 0 "$tmp/p.crm" --events "$tmp/far.jsonl" --on-error=skip --max-time-jump 0
said "skipped too many scheduled runs at once: 1"
cmp -s "$tmp/out" "$tmp/plain.out" || fail "skipping the far event changed the decisions"

# With a ledger: the same decisions, and a restart on the same input repeats them from it.
run 0 "$tmp/p.crm" --events "$tmp/far.jsonl" --on-error=skip --state "sqlite:$tmp/l.db" --max-time-jump 0
cmp -s "$tmp/out" "$tmp/plain.out" || fail "skipping the far event changed the decisions with a ledger"
run 0 "$tmp/p.crm" --events "$tmp/far.jsonl" --on-error=skip --state "sqlite:$tmp/l.db" --max-time-jump 0
cmp -s "$tmp/out" "$tmp/plain.out" || fail "the restart on the ledger decided otherwise"

# The limit is exact: the 5:30 event brings 5 runs (01:00 .. 05:00), so 5 passes and 4 does not.
run 0 "$tmp/p.crm" --events "$tmp/plain.jsonl" --max-schedule-runs 5
cmp -s "$tmp/out" "$tmp/plain.out" || fail "--max-schedule-runs 5 changed the decisions"
run 1 "$tmp/p.crm" --events "$tmp/plain.jsonl" --max-schedule-runs 4
said "plain.jsonl:2: too many scheduled runs at once: the event at 2026-01-01T05:30:00Z would bring more than 4 scheduled runs"

# --until that far is refused too; a usable one still runs the schedules up to it.
run 1 "$tmp/p.crm" --events "$tmp/plain.jsonl" --until 9999-01-01T00:00:00Z --max-time-jump 0
said "crm: --until: too many scheduled runs at once: moving the clock to 9999-01-01T00:00:00Z"
run 0 "$tmp/p.crm" --events "$tmp/plain.jsonl" --until 2026-01-02T00:00:00Z

run 2 "$tmp/p.crm" --events "$tmp/plain.jsonl" --max-schedule-runs many
said "--max-schedule-runs takes a whole number (0: no limit), not \`many\`"
run 2 "$tmp/p.crm" --events "$tmp/plain.jsonl" --max-schedule-runs -1
run 2 "$tmp/p.crm" --events "$tmp/far.jsonl" --threads 2
said "--threads 2: strategy \`hourly\` is scheduled"
echo "ok: the far event refused at its line, skipped without a trace, --until bounded, threads refuse schedules"
