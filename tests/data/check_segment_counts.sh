#!/usr/bin/env bash
# check_segment_counts.sh CRM_BINARY DATASET
#
# End-to-end check of the runtime on a public dataset (DATASET = online-retail | cdnow): imports
# the raw log with `crm import`, evaluates the example program's audiences with `crm audience` at
# the log's last timestamp, and compares the four reference segments (frequent, new_customer,
# silent, spend_spike) with counts computed independently by sqlite3 from the raw CSV
# (tests/data/<dataset>_segments.sql). Prints both tables; exits 1 on any difference or failure,
# 77 (skipped) when the datasets are not checked out beside the repository.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 CRM_BINARY online-retail|cdnow" >&2
  exit 2
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA="$(dirname "$0")/../../../shared/data"
if [[ ! -d "$DATA" ]]; then
  echo "SKIPPED: ../shared/data not found (public datasets are only beside the checkout in CI)"
  exit 77
fi
DATA=$(cd "$DATA" && pwd)

CRM=$1
DATASET=$2
if [[ "$CRM" != /* ]]; then CRM="$(cd "$(dirname "$CRM")" && pwd)/$(basename "$CRM")"; fi
if [[ ! -x "$CRM" ]]; then
  echo "FAIL: crm binary not found or not executable: $CRM" >&2
  exit 1
fi
if ! command -v sqlite3 >/dev/null; then
  echo "FAIL: sqlite3 is needed for the reference counts" >&2
  exit 1
fi

SEGMENTS=(frequent new_customer silent spend_spike)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

case "$DATASET" in
  online-retail)
    DATASET_DIR="$DATA/uci-online-retail"
    PROGRAM="$ROOT/examples/online-retail/retail.crm"
    SQL="$TMP/online_retail.sql"
    cat "$HERE/online_retail_orders.sql" "$HERE/online_retail_segments.sql" >"$SQL"
    NOW=2011-12-09T12:50:00Z  # the latest InvoiceDate in the raw file (read as UTC)
    "$CRM" import online-retail <(zcat "$DATASET_DIR/online_retail.csv.gz") -o "$TMP/events.jsonl"
    ;;
  cdnow)
    DATASET_DIR="$DATA/cdnow"
    PROGRAM="$ROOT/examples/cdnow/cdnow.crm"
    SQL="$HERE/cdnow_segments.sql"
    NOW=1998-06-30T00:00:00Z  # the log's last date, at midnight
    "$CRM" import cdnow "$DATASET_DIR/cdnow_master.csv" -o "$TMP/events.jsonl"
    ;;
  *)
    echo "usage: $0 CRM_BINARY online-retail|cdnow" >&2
    exit 2
    ;;
esac

# Reference counts: `name|count` lines. The SQL loads the raw file by a path relative to the
# dataset's directory; sqlite3 only reads there (the database is in memory).
(cd "$DATASET_DIR" && sqlite3 -batch :memory: <"$SQL") >"$TMP/sql.txt"

# The runtime's counts: one JSON object {"name": count, ...} (segments and strategies).
# CRM_EVAL_FLAGS=--jit: the same counts from the JIT's native code (ctest: *_jit).
"$CRM" audience "$PROGRAM" --events "$TMP/events.jsonl" --at "$NOW" --format json ${CRM_EVAL_FLAGS:-} >"$TMP/crm.json"
crm_json=$(tr -d '\n\r' <"$TMP/crm.json")

status=0
printf '%s at %s\n' "$DATASET" "$NOW"
printf '%-14s %10s %10s\n' segment sqlite3 crm
for name in "${SEGMENTS[@]}"; do
  sql_count=$(awk -F'|' -v n="$name" '$1 == n { print $2 }' "$TMP/sql.txt")
  matches=$(grep -oE "\"$name\"[[:space:]]*:[[:space:]]*-?[0-9]+" <<<"$crm_json" || true)
  if [[ $(grep -c . <<<"$matches" || true) -eq 1 ]]; then
    crm_count=${matches##*:}
    crm_count=${crm_count//[[:space:]]/}
  elif [[ -z "$matches" ]]; then
    crm_count=missing
  else
    crm_count=ambiguous
  fi
  [[ -n "$sql_count" ]] || sql_count=missing
  mark=""
  if [[ "$sql_count" != "$crm_count" || "$sql_count" == missing ]]; then
    mark="  <-- MISMATCH"
    status=1
  fi
  printf '%-14s %10s %10s%s\n' "$name" "$sql_count" "$crm_count" "$mark"
done

if [[ $status -ne 0 ]]; then
  echo "FAIL: segment counts differ; crm audience printed:"
  cat "$TMP/crm.json"
  exit 1
fi
echo "OK"
