#!/usr/bin/env python3
"""gen.py USERS EVENTS - Order and Pay events in time order (20 seconds apart from
2026-11-11T00:00Z) for users u0..u(USERS-1) in a fixed pseudo-random order."""
import random, sys, datetime
users, events = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(15)
t0 = datetime.datetime(2026, 11, 11, tzinfo=datetime.timezone.utc)
for i in range(events):
    t = (t0 + datetime.timedelta(seconds=20 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    u, amount = rng.randrange(users), rng.randrange(10, 121)
    if rng.random() < 0.3:
        print('{"id":"e%d","type":"Pay","user":"u%d","time":"%s","amount":%d}' % (i, u, t, amount))
    else:
        print('{"id":"e%d","type":"Order","user":"u%d","time":"%s","amount":%d,"store":"s%d"}' % (i, u, t, amount, rng.randrange(5)))
