#!/usr/bin/env bash
# time_range_cli.sh CRM - crm's time is 0001-01-01T00:00:00Z through 9999-12-31T23:59:59.999999Z
# (support/civil_time.h), and every way an instant enters holds to it: an event's `time` or time
# field, a profile's time field, --at, --until. An offset can carry a four-digit local time out
# of it (`0001-01-01T00:00:00+01:00` is 0000-12-31T23:00:00Z). Before, such an event was decided
# and written to the ledger as year 0, and `crm report` then refused the ledger as "changed
# outside crm"; `--at` refused only the UTC form.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat >"$tmp/p.crm" <<'CRM'
profile { joined: Time? }
event Visit { seen: Time? }
resource push hi { body: "hi" }
strategy s { who: true  when: on Visit  what: send hi via Push }
CRM
range="and crm's time is 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"
for bad in "0001-01-01T00:00:00+01:00|0000-12-31T23:00:00Z" "9999-12-31T23:59:59-01:00|10000-01-01T00:59:59Z"; do
  text=${bad%%|*}
  utc=${bad##*|}
  for field in time seen; do
    if [ $field = time ]; then
      line="{\"type\":\"Visit\",\"id\":\"v2\",\"user\":\"bob\",\"time\":\"$text\"}"
    else
      line="{\"type\":\"Visit\",\"id\":\"v2\",\"user\":\"bob\",\"time\":\"2026-01-01T00:00:00Z\",\"seen\":\"$text\"}"
    fi
    # First, so that no watermark refuses it as late: it used to be decided and written.
    printf '%s\n%s\n%s\n' "$line" '{"type":"Visit","id":"v1","user":"ann","time":"2026-01-01T00:00:00Z"}' \
      '{"type":"Visit","id":"v3","user":"cy","time":"2026-01-02T00:00:00Z"}' >"$tmp/e.jsonl"
    want="e.jsonl:1: \`$field\` must be an ISO-8601 time, not \"$text\" (it is $utc in UTC, $range)"
    for threads in 1 2; do
      db="$tmp/l-$field-$threads-${text:0:4}.db"
      set +e
      "$crm" run "$tmp/p.crm" --events "$tmp/e.jsonl" --threads $threads --state "sqlite:$db" >"$tmp/out" 2>"$tmp/err"
      rc=$?
      set -e
      [ $rc -eq 1 ] || fail "$field $text threads $threads: exit $rc, not 1: $(cat "$tmp/err")"
      grep -qF "$want" "$tmp/err" || fail "$field $text threads $threads: no '$want' in: $(cat "$tmp/err")"
      rm -f "$db"*
      "$crm" run "$tmp/p.crm" --events "$tmp/e.jsonl" --threads $threads --state "sqlite:$db" --on-error=skip \
        >"$tmp/out" 2>"$tmp/err" || fail "$field $text threads $threads: skip run failed: $(cat "$tmp/err")"
      grep -qF "$want" "$tmp/err" || fail "$field $text threads $threads (skip): no '$want' in: $(cat "$tmp/err")"
      grep -q '"user":"bob"' "$tmp/out" && fail "$field $text threads $threads: the refused event was decided: $(cat "$tmp/out")"
      [ "$(grep -c '"user":"\(ann\|cy\)"' "$tmp/out")" -eq 2 ] || fail "$field $text: the other events were not decided"
      # The ledger holds only what its reader takes back.
      grep -v '"bob"' "$tmp/e.jsonl" >"$tmp/good.jsonl"
      "$crm" report --state "sqlite:$db" --events "$tmp/good.jsonl" >/dev/null 2>"$tmp/err" ||
        fail "$field $text threads $threads: report refused the ledger: $(cat "$tmp/err")"
    done
  done
  # A profile's time field.
  printf '{"user":"ann","joined":"%s"}\n' "$text" >"$tmp/pr.jsonl"
  printf 'user,joined\nann,%s\n' "$text" >"$tmp/pr.csv"
  printf '%s\n' '{"type":"Visit","id":"v1","user":"ann","time":"2026-01-01T00:00:00Z"}' >"$tmp/e1.jsonl"
  for profiles in pr.jsonl pr.csv; do
    set +e
    "$crm" run "$tmp/p.crm" --events "$tmp/e1.jsonl" --profiles "$tmp/$profiles" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "profile $profiles $text: exit $rc, not 1: $(cat "$tmp/err")"
    grep -qF "(it is $utc in UTC, $range)" "$tmp/err" || fail "profile $profiles $text: not refused for its range: $(cat "$tmp/err")"
    at="$profiles:2"  # the CSV header is line 1
    [ $profiles = pr.jsonl ] && at="$profiles:1"
    grep -qF "$at" "$tmp/err" || fail "profile $profiles $text: no '$at' in: $(cat "$tmp/err")"
  done
  # --at and --until: the offset form and the UTC form alike.
  for at in "$text" "$utc"; do
    set +e
    "$crm" audience "$tmp/p.crm" --events "$tmp/e1.jsonl" --at "$at" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    [ $rc -ne 0 ] || fail "--at $at accepted: $(cat "$tmp/out")"
    grep -qF -- "--at \`$at\` is not an ISO-8601 time" "$tmp/err" || fail "--at $at: $(cat "$tmp/err")"
    set +e
    "$crm" run "$tmp/p.crm" --events "$tmp/e1.jsonl" --until "$at" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    [ $rc -ne 0 ] || fail "--until $at accepted: $(cat "$tmp/out")"
    grep -qF -- "--until takes a time" "$tmp/err" || fail "--until $at: $(cat "$tmp/err")"
  done
  grep -qF "(it is $utc in UTC, $range)" <("$crm" audience "$tmp/p.crm" --events "$tmp/e1.jsonl" --at "$text" 2>&1) ||
    fail "--at $text does not say why"
done
# The first and last instants themselves are crm's.
printf '%s\n%s\n' '{"type":"Visit","id":"v1","user":"ann","time":"0001-01-01T01:00:00+01:00"}' \
  '{"type":"Visit","id":"v2","user":"ann","time":"9999-12-31T23:59:59.999999Z"}' >"$tmp/edge.jsonl"
"$crm" run "$tmp/p.crm" --events "$tmp/edge.jsonl" --max-time-jump 0 --state "sqlite:$tmp/edge.db" >"$tmp/out" 2>"$tmp/err" ||
  fail "the edges were refused: $(cat "$tmp/err")"
grep -qF '"at":"0001-01-01T00:00:00Z"' "$tmp/out" || fail "first instant: $(cat "$tmp/out")"
"$crm" report --state "sqlite:$tmp/edge.db" --events "$tmp/edge.jsonl" >/dev/null 2>"$tmp/err" ||
  fail "report refused the edges: $(cat "$tmp/err")"
"$crm" audience "$tmp/p.crm" --events "$tmp/edge.jsonl" --at 0001-01-01T00:00:00Z >/dev/null 2>"$tmp/err" ||
  fail "--at the first instant: $(cat "$tmp/err")"
echo "ok: instants outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z refused wherever they enter"
