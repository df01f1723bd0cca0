#!/usr/bin/env python3
"""check_ledgers.py [--redis PORT CAMPAIGN] [--events N] [--exact-redis] [--expect S=N ...] [--at-least S=N ...] DB... -
the union of the processes' ledgers against the limits of the shared-counter test programs:
fails on any overgrant (deliveries over stock, money over budget), on an event decided by two
processes or by none (--events N: e0..e(N-1)), on a duplicated grant, on a strategy's deliveries
other than --expect's or fewer than --at-least's, and, with --redis, on a
Redis counter below the ledgers' total (a grant without a reservation) or, with --exact-redis,
different from it. Prints one line per strategy."""
import sqlite3, subprocess, sys

LIMITS = {"flash": (300, 2000_000000), "vip": (-1, 400_000000), "side": (150, -1), "wide": (100000, 100000_000000)}  # stock, budget (millionths)
args = sys.argv[1:]
redis = None
events = None
exact = False
expect = {}
at_least = {}
while args and args[0].startswith("--"):
    a = args.pop(0)
    if a == "--redis":
        redis = (args.pop(0), args.pop(0))
    elif a == "--events":
        events = int(args.pop(0))
    elif a == "--exact-redis":
        exact = True
    elif a == "--expect":
        s, n = args.pop(0).split("=")
        expect[s] = int(n)
    elif a == "--at-least":
        s, n = args.pop(0).split("=")
        at_least[s] = int(n)
fail = []
deliveries, money, seen_units = {}, {}, {}
for db in args:
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    for (unit,) in con.execute("SELECT unit FROM crm_units WHERE kind = 0"):
        if unit in seen_units:
            fail.append("event %s decided by %s and %s" % (unit, seen_units[unit], db))
        seen_units[unit] = db
    for s, n, m in con.execute("SELECT strategy, count(DISTINCT kind || '/' || unit || '/' || user), sum(amount) "
                               "FROM crm_ledger WHERE outcome = 'granted' GROUP BY strategy"):
        deliveries[s] = deliveries.get(s, 0) + n
        money[s] = money.get(s, 0) + (m or 0)
    for row in con.execute("SELECT unit, user, strategy, resource, count(*) FROM crm_ledger WHERE outcome = 'granted' "
                           "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"):
        fail.append("duplicated grant %r in %s" % (row, db))
if events is not None:
    missing = [i for i in range(events) if "e%d" % i not in seen_units]
    if missing:
        fail.append("%d events decided by no process (first e%d)" % (len(missing), missing[0]))
counters = {}
if redis:
    # -c: a Redis Cluster node redirects to the slot's owner (no effect on a single server).
    out = subprocess.run(["redis-cli", "-c", "-p", redis[0], "HGETALL", "crm:{%s}:counters" % redis[1]],
                         capture_output=True, text=True, check=True).stdout.split()
    counters = dict(zip(out[0::2], map(int, out[1::2])))
for s in sorted(set(deliveries) | set(expect) | set(at_least)):
    n, m = deliveries.get(s, 0), money.get(s, 0)
    stock, budget = LIMITS[s]
    line = "%s: %d deliveries, %.2f CNY" % (s, n, m / 1e6)
    if stock >= 0 and n > stock:
        fail.append("OVERGRANT %s: %d deliveries, stock %d" % (s, n, stock))
    if budget >= 0 and m > budget:
        fail.append("OVERGRANT %s: %d millionths, budget %d" % (s, m, budget))
    if s in expect and n != expect[s]:
        fail.append("%s: %d deliveries, expected %d" % (s, n, expect[s]))
    if s in at_least and n < at_least[s]:
        fail.append("%s: %d deliveries, expected at least %d" % (s, n, at_least[s]))
    if redis:
        d, r = counters.get("d:" + s, 0), counters.get("r:" + s, 0)
        line += "; redis %d deliveries, %.2f CNY" % (d, r / 1e6)
        if d < n or r < m:
            fail.append("%s: Redis counts %d/%d, below the ledgers' %d/%d (a grant without a reservation)" % (s, d, r, n, m))
        if exact and (d != n or r != m):
            fail.append("%s: Redis counts %d/%d, ledgers %d/%d" % (s, d, r, n, m))
    print("  " + line)
for f in fail:
    print("FAIL: " + f)
sys.exit(1 if fail else 0)
