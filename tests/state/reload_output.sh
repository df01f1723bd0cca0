#!/usr/bin/env bash
# reload_output.sh CRM - a hot reload (`crm run --reload-on SIGHUP`) whose new program imports the
# output file is refused, as the same program is refused when the run starts (the output would
# overwrite the module): the reload says why, the running program goes on deciding into its output,
# and nothing is emptied. Before, only the first program's modules were checked: the reload was
# applied and the decisions written over the module.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$tmp/err.txt" ] && sed 's/^/  stderr: /' "$tmp/err.txt" | head -40
  exit 1
}
cd "$tmp"
cat >v1.crm <<'EOT'
event Order { amount: Money(CNY) }
event Visit { page: String }
resource coupon c10 { discount: 10 CNY }
strategy welcome { who: true  when: on Order  what: grant c10 via App }
EOT
# v2 imports `out`: the module out.crm, which is the run's --out (empty until an Order comes, so
# it compiles).
{ echo 'import out'; sed 's/welcome/visitor/; s/on Order/on Visit/' v1.crm; } >v2.crm
event() {  # event N TYPE
  if [ "$2" = Order ]; then
    printf '{"id":"e%d","type":"Order","user":"u%d","time":"2026-01-01T00:00:%02dZ","amount":"30"}\n' "$1" "$1" "$1"
  else
    printf '{"id":"e%d","type":"Visit","user":"u%d","time":"2026-01-01T00:00:%02dZ","page":"a"}\n' "$1" "$1" "$1"
  fi
}

# The same program at the start: refused (exit 2), the module untouched.
echo '// a module' >out.crm
set +e
"$crm" run v2.crm --events /dev/null -o out.crm 2>err0.txt
rc=$?
set -e
[ "$rc" = 2 ] || fail "run of a program importing its output: exit $rc: $(cat err0.txt)"
grep -q 'is the same file as a module the program imports' err0.txt || fail "start: $(cat err0.txt)"
[ "$(cat out.crm)" = "// a module" ] || fail "the module was emptied at the start"

: >out.crm
cp v1.crm p.crm
mkfifo fifo
"$crm" run p.crm --events fifo --reload-on SIGHUP --allow-program-change -o out.crm 2>err.txt &
pid=$!
exec 3>fifo
event 1 Visit >&3  # v1 decides nothing for a visit: out.crm stays empty, a module that compiles
sleep 0.3
cp v2.crm p.crm
kill -HUP "$pid"
event 2 Order >&3  # the reload comes before this event
for _ in $(seq 500); do grep -q '^crm: reload before' err.txt && break; sleep 0.01; done
event 3 Visit >&3
event 4 Order >&3
exec 3>&-
set +e
wait "$pid"
rc=$?
set -e
pid=
[ "$rc" = 0 ] || fail "crm run exited with $rc"
grep -q '^crm: reload before fifo:2 refused: --out `out.crm` is the same file as a module the program imports `.*out.crm`: writing it would destroy that input (choose another output file); the running program goes on$' err.txt ||
  fail "no refusal naming the output"
grep -q 'reloads: 0 applied, 1 refused' err.txt || fail "the summary does not count the refusal"
# v1 went on: both orders granted by welcome, no visit decided, into the output.
[ "$(grep -c '"strategy":"welcome","outcome":"granted"' out.crm)" = 2 ] || fail "v1 did not go on: $(cat out.crm)"
if grep -q '"strategy":"visitor"' out.crm; then fail "v2 decided: $(cat out.crm)"; fi
echo "ok: a reload importing the output file is refused; the running program goes on"
