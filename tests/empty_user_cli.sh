#!/usr/bin/env bash
# empty_user_cli.sh CRM - `crm run` refuses an empty user id at its line, naming the field, in
# profiles (JSON Lines and CSV) and events, with one thread and with --threads 2; skipped, the
# other lines are decided as without it. (A JSONL profile `"user":""` was loaded.)
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat >"$tmp/p.crm" <<'CRM'
profile { level: Int = 0 }
event Visit { page: String }
resource push hi { body: "hi" }
strategy s { who: level >= 0  when: on Visit  what: send hi via Push }
CRM
printf '{"user":"ann","level":1}\n{"user":"","level":2}\n' >"$tmp/pr.jsonl"
printf 'user,level\nann,1\n,2\n' >"$tmp/pr.csv"
printf '{"type":"Visit","id":"v1","user":"","time":"2026-01-01T00:00:00Z","page":"a"}\n{"type":"Visit","id":"v1","user":"ann","time":"2026-01-01T00:00:00Z","page":"a"}\n' >"$tmp/e.jsonl"
for threads in 1 2; do
  for profiles in pr.jsonl pr.csv; do
    set +e
    "$crm" run "$tmp/p.crm" --events "$tmp/e.jsonl" --profiles "$tmp/$profiles" --threads $threads >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "threads $threads $profiles: exit $rc, not 1: $(cat "$tmp/err")"
    want="$profiles:3: empty \`user\`"
    [ "$profiles" = pr.jsonl ] && want="pr.jsonl:2: \`user\` must not be empty"
    grep -qF "$want" "$tmp/err" || fail "threads $threads: no '$want' in: $(cat "$tmp/err")"
    "$crm" run "$tmp/p.crm" --events "$tmp/e.jsonl" --profiles "$tmp/$profiles" --threads $threads --on-error=skip \
      --state "sqlite:$tmp/l$threads$profiles.db" >"$tmp/out" 2>"$tmp/err" || fail "skip run failed: $(cat "$tmp/err")"
    grep -qF "e.jsonl:1: \`user\` must not be empty" "$tmp/err" || fail "threads $threads: event not refused: $(cat "$tmp/err")"
    # The refused line's id is not taken: ann's event with the same id is decided.
    [ "$(grep -c '"user":"ann"' "$tmp/out")" -eq 1 ] || fail "threads $threads: ann's event not decided: $(cat "$tmp/out" "$tmp/err")"
  done
done
echo "ok: empty users refused at their lines (profiles JSONL and CSV, events), one and two threads"
