#!/usr/bin/env bash
# cli_text.sh CRM - text and CSV through the command line (docs/runtime.md "Text encoding" and
# "Profiles"): byte order marks in every kind of input file, invalid UTF-8 reported as
# FILE:LINE, JSON surrogate pairs, CSV records spanning lines, strict Bool cells, and Unicode
# lower()/upper().
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
bom=$'\xEF\xBB\xBF'

# A .crm source saved with a BOM (e.g. by Notepad) is a valid source.
cat >p.crm <<'EOF'
profile { vip: Bool  city: String? }
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
segment munich = lower(city ?? "") == "münchen"
segment athens = upper(city ?? "") == "ΑΘΗΝΑ"
segment vips = vip
strategy thanks { who: exists(Order)  when: on Order  what: grant c5 via App }
EOF
{ printf '%s' "$bom"; cat p.crm; } >bom.crm
"$crm" check -q bom.crm 2>err.txt || fail "check refused a source with a BOM: $(cat err.txt)"

# Events: a BOM before line 1, an emoji user written as a surrogate pair, CRLF.
{ printf '%s' "$bom"
  printf '{"id":"o1","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":1}\r\n'
  printf '{"id":"o2","type":"Order","user":"\\ud83d\\ude00","time":"2026-01-01T00:00:01Z","amount":1}\r\n'
} >e.jsonl
"$crm" run bom.crm --events e.jsonl --on-error=skip >out.jsonl 2>err.txt || fail "run: $(cat err.txt)"
grep -q "^2 events" err.txt || fail "a BOM or a surrogate pair cost an event: $(cat err.txt)"
grep -q " 0 skipped" err.txt || fail "lines were skipped: $(cat err.txt)"
[ "$(grep -c '"granted"' out.jsonl)" = 2 ] || fail "expected 2 grants: $(cat out.jsonl)"
grep -q '😀' out.jsonl || fail "the emoji user is not in the decisions: $(cat out.jsonl)"

# Invalid UTF-8 (a Latin-1 ü) is an error with FILE:LINE, not stored as is.
{ printf '{"id":"o1","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":1}\n'
  printf '{"id":"o2","type":"Order","user":"M\xfcller","time":"2026-01-01T00:00:01Z","amount":1}\n'
} >latin1.jsonl
if "$crm" run p.crm --events latin1.jsonl -q >/dev/null 2>err.txt; then fail "invalid UTF-8 was accepted"; fi
grep -q "^latin1.jsonl:2: column 36: invalid UTF-8 (byte 0xFC)" err.txt || fail "wrong error: $(cat err.txt)"
printf '{"id":"o1","type":"Order","user":"\\ud83d","time":"2026-01-01T00:00:00Z","amount":1}\n' >lone.jsonl
if "$crm" run p.crm --events lone.jsonl -q >/dev/null 2>err.txt; then fail "a lone surrogate was accepted"; fi
grep -q "^lone.jsonl:1: column 35: lone high surrogate" err.txt || fail "wrong error: $(cat err.txt)"

# CSV profiles: BOM, CRLF, a quoted line break, TRUE; the record after the multi-line one
# starts on line 4.
{ printf '%s' "$bom"
  printf 'user,vip,city\r\nu1,TRUE,"MÜNCHEN"\r\nu2,false,"Αθηνα\r\nold town"\r\nu3,1,αθηνα\r\n'
} >p.csv
"$crm" audience p.crm --profiles p.csv --events e.jsonl --at 2026-02-01T00:00:00Z --format json >aud.json 2>err.txt ||
  fail "audience: $(cat err.txt)"
grep -q '"munich": 1, "athens": 1, "vips": 2' aud.json || fail "wrong counts: $(cat aud.json)"

printf 'user,vip,city\nu1,true,"two\nlines"\nu2,yes,x\nu3,maybe,y\nu4,0,z\n' >bad.csv
if "$crm" audience p.crm --profiles bad.csv --events e.jsonl --at 2026-02-01T00:00:00Z >/dev/null 2>err.txt; then
  fail "yes was read as a Bool"
fi
grep -q '^bad.csv:4: `vip` must be true, false, 1 or 0, not "yes"' err.txt || fail "wrong error: $(cat err.txt)"
"$crm" audience p.crm --profiles bad.csv --events e.jsonl --at 2026-02-01T00:00:00Z --on-error=skip \
  --format json >aud.json 2>err.txt || fail "skip: $(cat err.txt)"
grep -q '^bad.csv:5: `vip` must be true, false, 1 or 0, not "maybe"' err.txt || fail "wrong error: $(cat err.txt)"
grep -q "skipped 2 malformed profile records" err.txt || fail "no skip count: $(cat err.txt)"
grep -q '"vips": 1' aud.json || fail "wrong counts after skipping: $(cat aud.json)"

# Import inputs: the same reader.
{ printf '%s' "$bom"; printf 'customer_id,date,number_of_cds,dollar_value\r\n00001,1997-01-01,1,11.77\r\n'; } >cd.csv
"$crm" import cdnow cd.csv -o cd.jsonl 2>err.txt || fail "import with a BOM: $(cat err.txt)"
[ "$(wc -l <cd.jsonl)" = 1 ] || fail "import lost the first row: $(cat cd.jsonl)"
printf 'customer_id,date,number_of_cds,dollar_value\nM\xfcller,1997-01-01,1,1\n' >cd_bad.csv
if "$crm" import cdnow cd_bad.csv -o cd.jsonl 2>err.txt; then fail "import accepted invalid UTF-8"; fi
grep -q "^cd_bad.csv:2: invalid UTF-8" err.txt || fail "wrong import error: $(cat err.txt)"
echo "text and CSV contract holds"
