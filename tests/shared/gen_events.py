#!/usr/bin/env python3
"""gen_events.py USERS EVENTS [DELAY_MS] - Order events in time order (one second apart from
2026-11-11T00:00Z), users u0..u(USERS-1) in a fixed pseudo-random order, amounts 20..120 CNY.
With DELAY_MS, sleeps that long after each line (a live stream for the mid-run fault tests)."""
import random, sys, time, datetime
users, events = int(sys.argv[1]), int(sys.argv[2])
delay = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0
rng = random.Random(2026)
t0 = datetime.datetime(2026, 11, 11, tzinfo=datetime.timezone.utc)
for i in range(events):
    t = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print('{"id":"e%d","type":"Order","user":"u%d","time":"%s","amount":%d}' % (i, rng.randrange(users), t, rng.randrange(20, 121)), flush=True)
    if delay:
        time.sleep(delay)
