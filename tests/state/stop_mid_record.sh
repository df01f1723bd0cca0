#!/usr/bin/env bash
# stop_mid_record.sh CRM - a graceful stop (SIGTERM, SIGINT) that comes when crm has read only
# part of a record cuts the input; it does not end it. Before the fix the stop ended the input
# as if at its end, so the part read was parsed as the last record: a valid profiles line was
# refused as malformed (`p.csv:4: 2 columns, but the header has 3`, exit 1 instead of 143), with
# --on-error=skip a good record was dropped, and with --threads an events line cut short was
# refused. The stop is made deterministic with a fifo: crm is given whole records and then half
# of one, the test waits until crm has read all of it (the fifo is empty) and is waiting for the
# rest, and only then sends the signal. Every case must stop as `crm run` stops on a signal
# (exit 128 + the signal, a note naming it) and name no line as malformed.
set -euo pipefail
crm=$1
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/err*.txt; do [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" | head -20; done
  exit 1
}

cat >"$tmp/p.crm" <<'EOT'
profile { tier: String, age: Int }
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY }
strategy welcome { who: age >= 18  when: on Order  what: grant c10 via App  how much: stock 3 }
EOT
for i in 0 1 2 3 4 5 6 7 8 9; do
  printf '{"id":"e%d","type":"Order","user":"u%d","time":"2026-01-01T00:00:0%dZ","amount":"30"}\n' "$i" "$i" "$i"
done >"$tmp/ev.jsonl"
for i in 0 1 2 3 4 5 6 7 8 9; do printf '{"user":"u%d","tier":"gold","age":30}\n' "$i"; done >"$tmp/all.jsonl"

# drained FIFO: waits (at most 10 s) until crm has read everything written to FIFO, then a little
# longer for it to be waiting for more. FIONREAD on a pipe counts its unread bytes from either end.
drained() {
  python3 - "$1" <<'EOP' || fail "crm did not read what was written to $1"
import fcntl, os, struct, sys, termios, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
end = time.time() + 10
while True:
    n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0)))[0]
    if n == 0:
        break
    if time.time() > end:
        sys.exit(1)
    time.sleep(0.01)
time.sleep(0.3)
EOP
}

# stop_round NAME SIGNAL CODE INPUT TEXT -- ARGS...: crm run with ARGS, where INPUT (a fifo in
# $tmp, named by the case) is given TEXT (whole records, then part of one); when crm has read it
# all, SIGNAL. Expects exit CODE, the note of the stop and no line named malformed.
stop_round() {
  local name=$1 sig=$2 code=$3 input=$4 text=$5 rc=0
  shift 6
  local fifo="$tmp/$input"
  rm -f "$fifo"
  mkfifo "$fifo"
  "$crm" run "$tmp/p.crm" "$@" -o "$tmp/$name.jsonl" 2>"$tmp/err-$name.txt" &
  local pid=$!
  pids+=("$pid")
  exec 3>"$fifo"
  printf '%b' "$text" >&3
  drained "$fifo"
  kill "-$sig" "$pid"
  wait "$pid" || rc=$?
  exec 3>&-
  [ "$rc" = "$code" ] || fail "$name: exit $rc after SIG$sig, not $code"
  grep -q "stopped by SIG$sig" "$tmp/err-$name.txt" || fail "$name: no note of the stop"
  if grep -E "$input:[0-9]+:|malformed|columns, but|unterminated|skipped [0-9]+ malformed" "$tmp/err-$name.txt"; then
    fail "$name: a record the stop cut was reported as malformed"
  fi
}

# Profiles, CSV: the stop cuts the fourth row after `u3,gold` (a row of 3 cells read as 2).
stop_round csv TERM 143 p.csv 'user,tier,age\nu0,gold,30\nu1,gold,31\nu2,gold,32\nu3,gold' -- \
  --events "$tmp/ev.jsonl" --profiles "$tmp/p.csv"
grep -q "while reading the profiles" "$tmp/err-csv.txt" || fail "csv: the note does not say the profiles were being read"
[ ! -s "$tmp/csv.jsonl" ] || fail "csv: decided before the profiles were read"
# ... and with --on-error=skip: no record dropped as malformed (the run stops).
stop_round csv_skip INT 130 p.csv 'user,tier,age\nu0,gold,30\nu1,gold,31\nu2,gold,32\nu3,gold' -- \
  --events "$tmp/ev.jsonl" --profiles "$tmp/p.csv" --on-error=skip
# A quoted field that spans lines: the stop comes after a whole physical line of an unfinished record.
stop_round csv_quoted TERM 143 p.csv 'user,tier,age\nu0,gold,30\nu1,"gold\n' -- \
  --events "$tmp/ev.jsonl" --profiles "$tmp/p.csv"
# Profiles, JSON Lines, and with worker threads (their own profiles reader).
stop_round jsonl TERM 143 p.jsonl '{"user":"u0","tier":"gold","age":30}\n{"user":"u1","ti' -- \
  --events "$tmp/ev.jsonl" --profiles "$tmp/p.jsonl"
stop_round jsonl_threads TERM 143 p.jsonl '{"user":"u0","tier":"gold","age":30}\n{"user":"u1","ti' -- \
  --events "$tmp/ev.jsonl" --profiles "$tmp/p.jsonl" --threads 2
# Events cut in the middle of a line, one thread and worker threads: the 5 whole events are
# decided and written, the cut one is not refused.
for threads in 1 2; do
  half=$(sed -n 6p "$tmp/ev.jsonl" | cut -c1-40)
  stop_round "events$threads" TERM 143 ev.fifo "$(head -5 "$tmp/ev.jsonl")\n$half" -- \
    --events "$tmp/ev.fifo" --profiles "$tmp/all.jsonl" --threads "$threads" --state "sqlite:$tmp/events$threads.db"
  grep -q "stopped by SIGTERM after 5 events" "$tmp/err-events$threads.txt" || fail "events$threads: not stopped after 5 events"
  [ "$(wc -l <"$tmp/events$threads.jsonl")" = 5 ] || fail "events$threads: $(wc -l <"$tmp/events$threads.jsonl") decisions written, not 5"
done
echo "ok: a stop in the middle of a record stops the run and refuses no record"
