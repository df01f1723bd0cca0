#!/usr/bin/env python3
"""Generates the bundled synthetic demo data for the shop examples. Deterministic; the output is
committed, so this only needs re-running after a change here. These are invented users: the real
public datasets stay in ../shared/data and are never copied into the repository."""
import json
import random
from datetime import datetime, timedelta, timezone

rng = random.Random(20261111)
UTC = timezone.utc
cities = ["Shanghai", "Beijing", "Hangzhou", "Chengdu", "Guangzhou", "Wuhan"]
categories = ["daily-care", "snacks", "apparel", "electronics", "home"]
channels = ["App", "MiniProgram", "Web"]

users = []
with open("shop_profiles.csv", "w") as f:
    f.write("user,user_id,nickname,age,gender,city,member_level,birthday,registered_at,sms_opt_in\n")
    for i in range(1, 301):
        uid = f"u{i:04d}"
        reg = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 900))
        bday = f"{rng.randrange(1965, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}" if rng.random() < 0.7 else ""
        f.write(f"{uid},{uid},shopper{i},{rng.randrange(16, 66)},{rng.choice(['Female', 'Male', ''])},{rng.choice(cities)},"
                f"{rng.choice([0, 0, 0, 1, 2, 3, 4, 5])},{bday},{reg.strftime('%Y-%m-%dT%H:%M:%SZ')},"
                f"{rng.choice(['true', 'false'])}\n")
        users.append((uid, rng.random()))

events = []
seq = 0
# Last year's Double 11 buyers and coupon users: the warm-up wave's audience.
for uid, activity in users:
    if rng.random() < 0.3:
        seq += 1
        t = datetime(2025, 11, 10, 16, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 1440))
        events.append((t, seq, {"id": f"e{seq:06d}", "type": "Order", "user": uid, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "order_id": f"o{seq:06d}", "amount": round(rng.uniform(50, 600), 2), "items": rng.randrange(1, 8),
                                "category": rng.choice(categories), "paid": True, "channel": rng.choice(channels),
                                "city": rng.choice(cities)}))
    if rng.random() < 0.2:
        for _ in range(2):
            seq += 1
            t = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24 * 150))
            events.append((t, seq, {"id": f"e{seq:06d}", "type": "Redeem", "user": uid, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "code": rng.choice(["SPRING-10", "MAY-5"]), "discount": rng.choice([5, 10])}))
for uid, activity in users:
    t = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24 * 40))
    rush_done = False
    while t < datetime(2026, 11, 13, tzinfo=UTC):
        seq += 1
        if rng.random() < 0.5:
            e = {"type": "Visit", "page": rng.choice(["home", "d11", "item"]), "channel": rng.choice(channels)}
        else:
            amount = round(rng.uniform(20, 400) * (3 if rng.random() < 0.05 else 1), 2)
            e = {"type": "Order", "order_id": f"o{seq:06d}", "amount": amount, "items": rng.randrange(1, 6),
                 "category": rng.choice(categories), "paid": rng.random() < 0.85, "channel": rng.choice(channels),
                 "city": rng.choice(cities)}
        e = {"id": f"e{seq:06d}", "type": e.pop("type"), "user": uid, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), **e}
        events.append((t, seq, e))
        t += timedelta(hours=1 + rng.expovariate(activity + 0.05) * 72)
        # Double 11: many active users come back during the day itself (Beijing time).
        if not rush_done and t > datetime(2026, 11, 10, 16, tzinfo=UTC) and rng.random() < 0.6 + activity / 3:
            rush_done = True
            t = datetime(2026, 11, 10, 16, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 1440))

# Double 11, 2026, for the five waves of examples/double11.crm. A generator of its own, so every
# event above stays as it was. (1) Payments: most orders left unpaid on the day are paid 20 minutes
# to 5 hours later. (2) Price-sensitive past Double-11 buyers (the warm-up audience: an order in
# Nov 2025 and two coupon redemptions) often spend the warm-up coupon on the day: an order of 300+
# CNY carrying its code.
rng2 = random.Random(20261108)
d11_start, d11_end = datetime(2026, 11, 10, 16, tzinfo=UTC), datetime(2026, 11, 11, 16, tzinfo=UTC)
past_d11 = {e["user"] for t, _, e in events
            if e["type"] == "Order" and datetime(2025, 11, 1, tzinfo=UTC) <= t < datetime(2025, 11, 12, tzinfo=UTC)}
redeems = {}
for t, _, e in events:
    if e["type"] == "Redeem":
        redeems[e["user"]] = redeems.get(e["user"], 0) + 1
extra = []
for t, _, e in sorted(events, key=lambda x: (x[0], x[1])):
    if e["type"] == "Order" and not e["paid"] and d11_start <= t < d11_end and rng2.random() < 0.6:
        seq += 1
        p = t + timedelta(minutes=rng2.randrange(20, 300))
        extra.append((p, seq, {"id": f"e{seq:06d}", "type": "Pay", "user": e["user"], "time": p.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "order_id": e["order_id"], "amount": e["amount"]}))
for uid, _ in users:
    if uid in past_d11 and redeems.get(uid, 0) >= 2 and rng2.random() < 0.6:
        seq += 1
        t = d11_start + timedelta(minutes=rng2.randrange(60, 1380))
        extra.append((t, seq, {"id": f"e{seq:06d}", "type": "Order", "user": uid, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "order_id": f"o{seq:06d}", "amount": round(rng2.uniform(300, 700), 2), "items": rng2.randrange(2, 8),
                               "category": rng2.choice(categories), "paid": True, "channel": "App",
                               "city": rng2.choice(cities), "coupon": "D11-W1-C30"}))
events += extra

with open("shop_events.jsonl", "w") as f:
    for _, _, e in sorted(events, key=lambda x: (x[0], x[1])):
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
