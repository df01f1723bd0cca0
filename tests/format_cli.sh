#!/usr/bin/env bash
# format_cli.sh CRM - `crm format --diff` and `--width` (docs/language.md, Layout): --diff prints
# a unified diff that turns the file into its formatted text and exits 1, nothing and 0 for a
# formatted file; --width moves where long lines break; bad combinations are usage errors (2).
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

cat >messy.crm <<'EOF2'
profile { age: Int   points: Int }
// adults
segment adults = age>=18
segment rich = points > 1000 and age >= 30 and age <= 60
EOF2
"$crm" format messy.crm >formatted.crm

# --diff: exit 1, a unified diff that git apply turns into the formatted text.
set +e; "$crm" format --diff messy.crm >d.diff 2>err.txt; rc=$?; set -e
[ "$rc" = 1 ] || fail "--diff on an unformatted file exited $rc: $(cat err.txt)"
head -2 d.diff | grep -qx -- '--- messy.crm' || fail "--diff header: $(head -2 d.diff)"
grep -q '^@@ -1,' d.diff || fail "--diff has no hunk: $(cat d.diff)"
cp messy.crm applied.crm
sed -e 's/^--- messy.crm$/--- applied.crm/' -e 's/^+++ messy.crm$/+++ applied.crm/' d.diff >a.diff
git apply -p0 --unsafe-paths a.diff || fail "git apply refused the --diff output:\n$(cat d.diff)"
cmp -s applied.crm formatted.crm || fail "the --diff output does not produce the formatted text"

# A formatted file: no output, exit 0; standard input too.
"$crm" format --diff formatted.crm >d2.diff || fail "--diff on a formatted file exited non-zero"
[ ! -s d2.diff ] || fail "--diff printed something for a formatted file: $(cat d2.diff)"
set +e; "$crm" format --diff - <messy.crm >d3.diff; rc=$?; set -e
[ "$rc" = 1 ] && grep -q '^+segment adults = age >= 18$' d3.diff || fail "--diff of standard input: $(cat d3.diff)"

# A missing final newline shows as such.
printf 'segment s = true' >nonl.crm
set +e; "$crm" format --diff nonl.crm >d4.diff; set -e
grep -q '^\\ No newline at end of file' d4.diff || fail "--diff hides a missing final newline: $(cat d4.diff)"

# --width: the `rich` segment (57 columns) stays on one line at 100 and breaks at 40.
grep -qx 'segment rich = points > 1000 and age >= 30 and age <= 60' formatted.crm || fail "default width broke a short line"
"$crm" format --width 40 messy.crm >narrow.crm
grep -qx '    and age >= 30' narrow.crm || fail "--width 40 did not break the long segment: $(cat narrow.crm)"
"$crm" format --width 40 --check narrow.crm || fail "--width 40 output is not stable at --width 40"
"$crm" check -q narrow.crm || fail "--width 40 output does not check"

# Usage errors.
for args in "--width 10" "--width 0" "--diff --write" "--check --diff"; do
  set +e; "$crm" format $args messy.crm >/dev/null 2>err.txt; rc=$?; set -e
  [ "$rc" = 2 ] || fail "format $args exited $rc, not 2: $(cat err.txt)"
done
echo "format_cli: ok"
