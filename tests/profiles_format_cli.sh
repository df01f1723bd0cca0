#!/usr/bin/env bash
# profiles_format_cli.sh CRM - the format of a profiles file, one rule for every command: CSV when
# the name ends in `.csv` in any letter case (`P.CSV`, `p.Csv` were read as JSON Lines, every row
# malformed); on standard input (`--profiles -`, `check --data -`), CSV unless the first
# character after a byte order mark and blank space is `{` (CSV could not be read from there).
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
# ann's level 5 keeps her out: a decision for her means her profile was not read.
printf 'user,level\nann,5\nbob,1\n' >P.CSV
cp P.CSV p.Csv
printf '\xEF\xBB\xBF\n  {"user":"ann","level":5}\n{"user":"bob","level":1}\n' >p.jsonl
printf '{"type":"Visit","id":"a1","user":"ann","time":"2026-01-01T00:00:00Z","page":"a"}\n' >e.jsonl
printf '{"type":"Visit","id":"b1","user":"bob","time":"2026-01-01T00:00:01Z","page":"a"}\n' >>e.jsonl
at=2026-01-02T00:00:00Z

decided_bob_only() {  # $1: what was run
  grep -qF '"user":"bob","strategy":"s","outcome":"granted"' out || fail "$1: bob not granted: $(cat out err)"
  if grep -qF '"user":"ann","strategy":"s","outcome":"granted"' out; then fail "$1: ann's profile not read: $(cat out err)"; fi
}

for f in P.CSV p.Csv; do
  for threads in 1 2; do
    "$crm" run p.crm --events e.jsonl --profiles $f --threads $threads >out 2>err || fail "run $f: $(cat err)"
    decided_bob_only "run --profiles $f --threads $threads"
  done
  "$crm" audience p.crm --events e.jsonl --profiles $f --at $at >out 2>err || fail "audience $f: $(cat err)"
  "$crm" explain p.crm --events e.jsonl --profiles $f --user ann --at $at >out 2>err || fail "explain $f: $(cat err)"
  "$crm" forecast p.crm --events e.jsonl --profiles $f --shift 1d >out 2>err || fail "forecast $f: $(cat err)"
done

# Standard input: CSV, and JSON Lines after a byte order mark and a blank line.
for f in P.CSV p.jsonl; do
  for threads in 1 2; do
    "$crm" run p.crm --events e.jsonl --profiles - --threads $threads <$f >out 2>err || fail "run - <$f: $(cat err)"
    decided_bob_only "run --profiles - <$f --threads $threads"
  done
  "$crm" audience p.crm --events e.jsonl --profiles - --at $at <$f >out 2>err || fail "audience - <$f: $(cat err)"
  "$crm" forecast p.crm --events e.jsonl --profiles - --shift 1d <$f >out 2>err || fail "forecast - <$f: $(cat err)"
done

# `crm check --data -` (read for two strategies that may overlap): CSV too.
cat >q.crm <<'CRM'
profile { level: Int = 0 }
resource coupon c10 { discount: 10 CNY }
strategy low for business "mall" { who: level < 3  when: at 2026-11-11T00:00Z  what: grant c10 }
strategy all for business "mall" { who: true  when: at 2026-11-11T00:00Z  what: grant c10 }
CRM
for f in P.CSV p.jsonl; do
  "$crm" check q.crm --data - <$f >out 2>err || fail "check --data - <$f: $(cat err)"
  grep -qF '1 of 2 users match both' err || fail "check --data - <$f: $(cat err)"
done
# Standard input is read once: with --each, the data of every program (the second was given what
# the first left of it, nothing: "0 of 0 users").
cp q.crm q2.crm
for f in P.CSV p.jsonl; do
  "$crm" check --each q.crm q2.crm --data - <$f >out 2>err || fail "check --each --data - <$f: $(cat err)"
  [ "$(grep -cF '1 of 2 users match both' err)" = 2 ] || fail "check --each --data - <$f: $(cat err)"
done

# Standard input told apart by its first byte after a byte order mark and blank space however
# the pipe's reads are split: a writer that delivers part of the mark, then the rest of it, then a
# blank line, each after a pause (the format used to be decided by the first read alone: the mark
# alone read as blank, CSV then taken for JSON Lines; part of the mark taken for CSV).
printf '\xEF\xBB\xBFuser,level\nann,5\nbob,1\n' >bom.csv
slowly() {  # slowly FILE N...: FILE on standard output in pieces of N bytes, then the rest, 0.5 s apart
  python3 -c '
import sys, time
data = open(sys.argv[1], "rb").read()
out = sys.stdout.buffer
for n in map(int, sys.argv[2:]):
    out.write(data[:n]); out.flush(); data = data[n:]; time.sleep(0.5)
out.write(data); out.flush()' "$@"
}
# The CSV's first read is its byte order mark alone (was read as JSON Lines); the JSON Lines'
# first read the mark's first byte (was read as CSV), then the rest of the mark, then a blank line.
for f in "bom.csv 3 1" "p.jsonl 1 2 1 1"; do
  slowly $f | "$crm" run p.crm --events e.jsonl --profiles - >out 2>err || fail "run - <slowly $f: $(cat err)"
  decided_bob_only "run --profiles - <slowly $f"
  slowly $f | "$crm" explain p.crm --events e.jsonl --profiles - --user ann --at $at >out 2>err ||
    fail "explain - <slowly $f: $(cat err)"
  slowly $f | "$crm" forecast p.crm --events e.jsonl --profiles - --shift 1d >out 2>err || fail "forecast - <slowly $f: $(cat err)"
  slowly $f | "$crm" check q.crm --data - >out 2>err || fail "check --data - <slowly $f: $(cat err)"
  grep -qF '1 of 2 users match both' err || fail "check --data - <slowly $f: $(cat err)"
done

echo "ok: profiles are CSV by a .csv name in any case, and on standard input by their first character"
