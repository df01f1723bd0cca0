#!/usr/bin/env python3
"""units_index.py [UNITS] - what an index on crm_units(kind, unit) would cost the ledger's write path
(docs/performance.md §11, issue 15 item 3: idempotency checked against the ledger instead of an
in-memory map of every event id). Appends UNITS units (default 10,000,000; ids `e0`, `e1`, ...
as bench/threads.sh writes them) in groups of 4,096 per transaction, WAL and synchronous=FULL as
the SQLite store does, once without and once with the index, and prints the time per unit, the
file size, and the cost of 200,000 lookups by (kind, unit) of ids present and absent. Run it under
/work/tools/run-lock."""
import os
import random
import sqlite3
import sys
import tempfile
import time

units = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
group = 4096
tmp = tempfile.mkdtemp()


def run(with_index):
    path = os.path.join(tmp, "index.db" if with_index else "plain.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE crm_units (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, kind INTEGER NOT NULL DEFAULT 0, program INTEGER)")
    if with_index:
        db.execute("CREATE INDEX crm_units_key ON crm_units (kind, unit)")
    start = time.perf_counter()
    for g in range(0, units, group):
        db.execute("BEGIN")
        db.executemany("INSERT INTO crm_units (unit, kind, program) VALUES (?, 0, 1)",
                       (("e%d" % i,) for i in range(g, min(units, g + group))))
        db.execute("COMMIT")
    write = time.perf_counter() - start
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = os.path.getsize(path)
    rng = random.Random(1)
    lookups = {}
    if with_index:
        for label, ids in (("present", ["e%d" % rng.randrange(units) for _ in range(200_000)]),
                           ("absent", ["x%d" % rng.randrange(units) for _ in range(200_000)])):
            start = time.perf_counter()
            for u in ids:
                db.execute("SELECT seq FROM crm_units WHERE kind = 0 AND unit = ?", (u,)).fetchone()
            lookups[label] = (time.perf_counter() - start) / len(ids) * 1e6
    db.close()
    os.remove(path)
    return write, size, lookups


for with_index in (False, True):
    write, size, lookups = run(with_index)
    extra = "".join(f", lookup {k} {v:.2f} us" for k, v in lookups.items())
    print(f"{'with' if with_index else 'without'} index: {units} units in {write:.2f} s "
          f"({write / units * 1e6:.2f} us per unit, {int(units / write)} units/s), file {size / 1e6:.0f} MB{extra}")
os.rmdir(tmp)
