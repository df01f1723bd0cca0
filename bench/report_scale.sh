#!/usr/bin/env bash
# report_scale.sh CRM ROWS USERS - times `crm report` over a synthetic ledger of ROWS decision rows
# (issue 14: 10M rows in <= 10 s). The ledger is written with SQL straight into the schema a
# `crm run` creates (building it through the engine would take minutes), shaped like a busy
# campaign: 4 strategies with a 10% control group, USERS users, a grant or control row per
# (strategy, user, day), a coupon with a face value, one redemption in 20 grants; the event log
# has one order per user. Prints the report's wall time and peak memory.
# Usage: bench/report_scale.sh build/crm 10000000 1000000 (run it under /work/tools/run-lock on
# shared machines).
set -euo pipefail
CRM=$(realpath "$1")
ROWS=${2:-10000000}
USERS=${3:-1000000}
TMP=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "kept $TMP" || trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
cat >p.crm <<'EOF2'
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
strategy s0 { who: true  when: on Order  what: grant c5 via App }
EOF2
echo '{"id":"x","type":"Order","user":"x","time":"2026-01-01T00:00:00Z","amount":1}' >one.jsonl
"$CRM" run p.crm --events one.jsonl --state sqlite:L.db -q -o /dev/null 2>/dev/null
start=$(date +%s.%N)
sqlite3 L.db <<EOF2
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
DELETE FROM crm_ledger;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $ROWS)
INSERT INTO crm_ledger (unit, user, strategy, outcome, reason, resource, channel, code, amount, at, json, sales, kind)
SELECT 's' || (i / $USERS), 'u' || (i % $USERS), 's' || ((i / $USERS) % 4),
       CASE WHEN (i % $USERS) % 10 = 0 THEN 'control' WHEN i % 20 = 1 THEN 'redeemed' ELSE 'granted' END,
       NULL, 'c5', 'App', 'C5', 5000000, 1767225600000000 + (i / $USERS) * 86400000000, '{}',
       CASE WHEN i % 20 = 1 THEN 40000000 ELSE 0 END, 1
FROM n;
EOF2
python3 - "$USERS" >events.jsonl <<'EOF2'
import sys
for u in range(int(sys.argv[1])):
    print('{"id":"o%d","type":"Order","user":"u%d","time":"2026-01-03T12:00:00Z","amount":42.5}' % (u, u))
EOF2
echo "ledger: $(sqlite3 L.db 'SELECT count(*) FROM crm_ledger') rows, $USERS users, written in $(echo "$(date +%s.%N) - $start" | bc) s"
/usr/bin/time -f "crm report: %e s wall, %M KiB peak memory" "$CRM" report --state sqlite:L.db --events events.jsonl \
  --format json -o report.json
head -c 400 report.json; echo
