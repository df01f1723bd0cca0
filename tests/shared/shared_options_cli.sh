#!/usr/bin/env bash
# shared_options_cli.sh CRM - the `--shared*` options of `crm run` and `crm shared` are read by
# one parser and refused at option parsing (exit 2, the option named), before anything connects:
# addresses that are no valid URL (a space, a second port, an unbracketed IPv6 address: t21 F3;
# a bracketed IPv6 address is taken). No Redis needed: nothing here may connect.
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

echo "shared options: ok"
