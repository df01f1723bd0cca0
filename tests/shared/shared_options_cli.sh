#!/usr/bin/env bash
# shared_options_cli.sh CRM - the `--shared*` options of `crm run` and `crm shared` are read by
# one parser and refused at option parsing (exit 2, the option named), before anything connects:
# addresses that are no valid URL (a space, a second port, an unbracketed IPv6 address: t21 F3;
# a bracketed IPv6 address is taken), and numbers above each option's maximum, which were cut to
# 32 bits (4294967796 ms became 500: t21 F7). No Redis needed: nothing here may connect.
set -euo pipefail
crm=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect CODE TEXT COMMAND ARGS...: the exit code and a line of stderr
  local code=$1 text=$2
  shift 2
  set +e
  timeout 20 "$crm" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  set -e
  [ "$rc" -eq "$code" ] || fail "crm $* exited with $rc, not $code: $(cat "$tmp/err")"
  grep -qF -- "$text" "$tmp/err" || fail "crm $* did not say '$text': $(cat "$tmp/err")"
}
prog=$root/examples/double11.crm
events=$root/examples/data/shop_events.jsonl
run=(run "$prog" -I "$root/examples" --events "$events" -q -o "$tmp/out.jsonl" --state "sqlite:$tmp/s.db")
show=(shared show --campaign c1)

# F3: addresses.
for url in "redis:// 127.0.0.1:6379" "redis://127.0.0.1:6379:1" "redis://::1:6379" "redis://[::1" "redis://[127.0.0.1]:1" \
           "redis-cluster://::1:7000,::1:7001"; do
  expect 2 "--shared: \`$url\` is not a Redis" "${run[@]}" --shared "$url"
  expect 2 "--shared: \`$url\` is not a Redis" "${show[@]}" --shared "$url"
done
expect 2 "more than one \`:\` (an IPv6 address goes in brackets: redis://[::1]:6379)" "${show[@]}" --shared "redis://::1:6379"
expect 2 "the host \` 127.0.0.1\` has \` \`" "${run[@]}" --shared "redis:// 127.0.0.1:6379"
[ ! -e "$tmp/out.jsonl" ] || fail "a refused address still ran"
# A bracketed IPv6 address is an address: with nothing listening there, `crm shared show` fails to
# connect (exit 3) and says where, without brackets given to the resolver.
port=$(python3 -c 'import socket;s=socket.socket(socket.AF_INET6);s.bind(("::1",0));print(s.getsockname()[1])' 2>/dev/null || true)
if [ -n "$port" ]; then
  expect 3 "cannot connect to [::1]:$port: Connection refused" "${show[@]}" --shared "redis://[::1]:$port" \
    --shared-connect-timeout 2000
fi

# F7: each number at most its maximum, named; nothing wraps modulo 2^32.
for opt in --shared-timeout --shared-connect-timeout --shared-retry --shared-wait-timeout; do
  for n in 4294967796 2147483648 99999999999999 3600001 123456789012345678901234; do
    expect 2 "$opt: takes at most 3600000, not \`$n\`" "${run[@]}" --shared redis://127.0.0.1:1 "$opt" "$n"
    expect 2 "$opt: takes at most 3600000, not \`$n\`" "${show[@]}" --shared redis://127.0.0.1:1 "$opt" "$n"
  done
done
expect 2 "--shared-wait-replicas: takes at most 1000, not \`4294967297\`" "${run[@]}" --shared redis://127.0.0.1:1 \
  --shared-wait-replicas 4294967297
expect 2 "--shared-redirects: takes at most 100, not \`101\`" "${run[@]}" --shared redis://127.0.0.1:1 --shared-redirects 101
expect 2 "--shared-lease: takes at most 1000000, not \`1000001\`" "${run[@]}" --shared redis://127.0.0.1:1 --shared-lease 1000001
expect 2 "--shared-lease: takes at most 1000000, not \`4294967297\`" "${run[@]}" --shared redis://127.0.0.1:1 \
  --shared-lease 4294967297
expect 2 "--shared-timeout: takes a positive whole number, not \`0\`" "${run[@]}" --shared redis://127.0.0.1:1 --shared-timeout 0
# The maximum itself is taken: nothing listens on port 1, so show fails to connect (exit 3), at once.
expect 3 "cannot connect to 127.0.0.1:1" "${show[@]}" --shared redis://127.0.0.1:1 --shared-timeout 3600000 \
  --shared-connect-timeout 3600000 --shared-retry 3600000 --shared-wait-timeout 3600000 --shared-redirects 100
# 0 where it means something (docs/scaling.md, each option's help): no lease, not strict, no
# redirection followed, no pause before trying again; taken (show then fails to connect, exit 3).
# A time of 0 for a timeout means nothing and stays refused.
for opt in --shared-lease --shared-wait-replicas --shared-redirects --shared-retry; do
  expect 3 "cannot connect to 127.0.0.1:1" "${show[@]}" --shared redis://127.0.0.1:1 "$opt" 0
done
for opt in --shared-timeout --shared-connect-timeout --shared-wait-timeout; do
  expect 2 "$opt: takes a positive whole number, not \`0\`" "${show[@]}" --shared redis://127.0.0.1:1 "$opt" 0
done
expect 2 "--shared-lease: takes a whole number, not \`-1\`" "${show[@]}" --shared redis://127.0.0.1:1 --shared-lease -1

# A ledger given as `crm run` takes it, with its page limit: the ledger is read (it was opened as
# the file `s.db?max_pages=100`, "cannot open ledger"), then Redis is asked (nothing listens: exit 3).
"$crm" "${run[@]}" >/dev/null 2>&1 || fail "the run making the ledger"
expect 3 "cannot connect to 127.0.0.1:1" "${show[@]}" --shared redis://127.0.0.1:1 --state "sqlite:$tmp/s.db?max_pages=100"
expect 2 "max_pages must be a positive number" "${show[@]}" --shared redis://127.0.0.1:1 --state "sqlite:$tmp/s.db?max_pages=x"
# t23 F5: --shared with a memory state is refused (no reconcile could count its grants after Redis
# lost the counters), and an option of the shared counters without --shared is named, not ignored.
rm -f "$tmp/out.jsonl"
norun=(run "$prog" -I "$root/examples" --events "$events" -q -o "$tmp/out.jsonl")
expect 2 "--shared needs a durable ledger, --state sqlite:PATH" "${norun[@]}" --state memory --shared redis://127.0.0.1:1
for opt in "--campaign nope" "--shared-lease 5" "--shared-timeout 7" "--shared-connect-timeout 7" "--shared-retry 0" \
           "--shared-wait-replicas 3" "--shared-wait-timeout 7" "--shared-redirects 1"; do
  # shellcheck disable=SC2086
  expect 2 "${opt%% *} applies only to shared counters: give --shared" "${run[@]}" $opt
done
[ ! -e "$tmp/out.jsonl" ] || fail "a refused option combination still ran"
# t23 F1: `crm help shared` and `crm shared --help` show the usage (exit 0), not an error pointing
# back to themselves. F9: an option given twice is refused in crm's words, naming it and its values.
for h in "help shared" "shared --help" "shared -h"; do
  # shellcheck disable=SC2086
  "$crm" $h >"$tmp/help" 2>"$tmp/err" || fail "crm $h exited with $?: $(cat "$tmp/err")"
  grep -q "^usage: crm shared reconcile|show" "$tmp/help" || fail "crm $h did not show the usage: $(cat "$tmp/help")"
done
expect 2 "shared takes an action: reconcile or show" shared
expect 2 "--partition: given more than once (\`1/2\`, \`2/2\`); give it once" "${run[@]}" --partition 1/2 --partition 2/2
expect 2 "--commit-every: given more than once" "${run[@]}" --commit-every 5 --commit-every 6
expect 2 "--campaign: given more than once" "${show[@]}" --shared redis://127.0.0.1:1 --campaign a
expect 2 "--format: given more than once (\`text\`, \`json\`); give it once" check "$prog" --format text --format json
echo "shared options: ok"
