#!/usr/bin/env python3
"""forecast_check.py - an independent computation of `crm forecast` (docs/indicators.md,
"Forecast"), with the Python standard library only.

It shifts the history itself (datetime), replays it with a plain `crm run` (no state: memory),
and again with every `pacing even` removed from the program's source when the forecast made that
replay, then counts the decisions per strategy and local day from the decision lines, takes each
strategy's budget, stock, pacing, window and zone from the source text, and compares every
number of the forecast's JSON with its own: grants, deliveries, reach, budget burn, refusals by
reason, the cumulative counts, the even plan and the run-out days; and the same for every budget
pool (`pool NAME { ... }`), from the decisions that name it.

Days are local calendar days (zoneinfo): a strategy's in its `zone: "..."`, else the program's
`zone "..."` (read from PROGRAM.crm itself, not from the modules it imports), else UTC; a pool's
in the zone its strategies (those with `from pool NAME`) share, else the program's.

usage: forecast_check.py --crm CRM --forecast F.json --events E.jsonl --shift-seconds S
                         [--profiles P] [-I DIR] PROGRAM.crm
"""
import argparse
import collections
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from decimal import Decimal
from zoneinfo import ZoneInfo

DAY_US = 86_400_000_000


def parse_time(text):
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def zone_of(name):
    """A tzinfo for a zone as the language writes it: an IANA name, "UTC"/"Z", or "+08:00"."""
    if name in ("UTC", "Z"):
        return dt.timezone.utc
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", name)
    if m:
        off = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return dt.timezone(off if m.group(1) == "+" else -off)
    return ZoneInfo(name)


def day_of(us, zone):
    """The local day (days since 1970-01-01 on the zone's calendar) of an instant."""
    local = (EPOCH + dt.timedelta(microseconds=us)).astimezone(zone_of(zone))
    return (local.date() - dt.date(1970, 1, 1)).days


def day_end(day, zone):
    """The UTC instant (microseconds) at which local day `day` ends: the next local midnight (in a
    gap that skips it, the first instant after the gap: zoneinfo's fold=0 reading)."""
    midnight = dt.datetime.combine(dt.date(1970, 1, 1) + dt.timedelta(days=day + 1), dt.time(0), tzinfo=zone_of(zone))
    delta = midnight.astimezone(dt.timezone.utc) - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def date_text(day):
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def money(text):
    return int(Decimal(str(text)) * 1_000_000)


def program_zone(source):
    m = re.search(r'^zone\s+"([^"]+)"', re.sub(r"//[^\n]*", "", source), re.M)
    return m.group(1) if m else "UTC"


def strategies_of(source):
    """name -> {budget, stock, paced, window, zone, pool} from the program's text (one file)."""
    out = {}
    default_zone = program_zone(source)
    for m in re.finditer(r"^strategy\s+(\w+)[^{]*\{(.*?)^\}", source, re.S | re.M):
        name, body = m.group(1), m.group(2)
        body = re.sub(r"//[^\n]*", "", body)
        b = re.search(r"\bbudget\s+([\d.]+)\s+[A-Z]{3}", body)
        st = re.search(r"\bstock\s+(\d+)", body)
        w = re.search(r"\bbetween\s+(\S+)\s+and\s+(\S+)", body)
        z = re.search(r'\bzone:\s*"([^"]+)"', body)
        pool = re.search(r"\bfrom\s+pool\s+(\w+)", body)
        out[name] = {
            "zone": z.group(1) if z else default_zone,
            "pool": pool.group(1) if pool else None,
            "budget": money(b.group(1)) if b else None,
            "stock": int(st.group(1)) if st else None,
            "paced": re.search(r"\bpacing\s+even\b", body) is not None,
            "window": (parse_time(w.group(1)), parse_time(w.group(2))) if w else None,
        }
    return out


def pools_of(source, strategies):
    """pool name -> {budget, stock, window: None, zone} from the program's text (budget pools)."""
    out = {}
    for m in re.finditer(r"^pool\s+(\w+)\s*\{(.*?)\}", source, re.S | re.M):
        name, body = m.group(1), re.sub(r"//[^\n]*", "", m.group(2))
        b = re.search(r"\bbudget\s+([\d.]+)\s+[A-Z]{3}", body)
        st = re.search(r"\bstock\s+(\d+)", body)
        zones = {s["zone"] for s in strategies.values() if s["pool"] == name}
        out["pool:" + name] = {"budget": money(b.group(1)) if b else None, "stock": int(st.group(1)) if st else None,
                               "paced": False, "window": None,
                               "zone": zones.pop() if len(zones) == 1 else program_zone(source)}
    return out


def shift_events(path, shift_us, out_path):
    """Each line with its `time` moved by shift_us (the rest of the line kept as written)."""
    first = last = None
    with open(path) as f, open(out_path, "w") as o:
        for line in f:
            if not line.strip():
                continue
            t = parse_time(json.loads(line)["time"]) + shift_us
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            stamp = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=t)
            text = stamp.strftime("%Y-%m-%dT%H:%M:%S") + (".%06d" % stamp.microsecond if stamp.microsecond else "") + "Z"
            line, n = re.subn(r'"time"\s*:\s*"[^"]*"', '"time":"%s"' % text, line.rstrip("\n"), count=1)
            assert n == 1, line
            o.write(line + "\n")
    return first, last


def replay(crm, program, includes, events, profiles, out):
    cmd = [crm, "run", program, "--events", events, "-q", "-o", out]
    for d in includes:
        cmd += ["-I", d]
    if profiles:
        cmd += ["--profiles", profiles]
    subprocess.run(cmd, check=True)
    with open(out) as f:
        return [json.loads(l) for l in f if l.strip()]


def tally(decisions, zones):
    """strategy -> day -> counts, and strategy -> totals; each series' days in zones[series]."""
    days = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    totals = collections.defaultdict(collections.Counter)
    users_day = collections.defaultdict(set)
    first_reach = {}
    deliveries = set()
    span = [None, None]
    for d in decisions:
        if not d.get("strategy"):
            continue
        # A strategy's own series, and its budget pool's: the same rows, counted under
        # "pool:NAME", whose budget and stock refusals are `pool_budget` and `pool_stock`.
        for s in [d["strategy"]] + (["pool:" + d["pool"]] if d.get("pool") else []):
            count_one(d, s, zones.get(s, "UTC"), days, totals, users_day, first_reach, deliveries, span)
    return days, totals, span


def count_one(d, s, zone, days, totals, users_day, first_reach, deliveries, span):
    """Counts decision d in series s (a strategy, or "pool:NAME") on its local day in `zone`."""
    at = parse_time(d["at"])
    day = day_of(at, zone)
    span[0] = day if span[0] is None else min(span[0], day)
    span[1] = day if span[1] is None else max(span[1], day)
    c, t = days[s][day], totals[s]
    o = d["outcome"]
    if o == "granted":
        for x in (c, t):
            x["grants"] += 1
            x["budget_spent"] += money(d["amount"]) if d.get("amount") is not None else 0
            # A message's record says what it cost the budget as `cost`.
            x["budget_spent"] += money(d["cost"]) if d.get("cost") is not None else 0
        key = (d["strategy"], s, d["user"], d.get("event"), d["at"], "held_at" in d)
        if key not in deliveries:
            deliveries.add(key)
            c["deliveries"] += 1
            t["deliveries"] += 1
        if (s, day, d["user"]) not in users_day[s]:
            users_day[s].add((s, day, d["user"]))
            c["reached"] += 1
        if (s, d["user"]) not in first_reach:
            first_reach[(s, d["user"])] = day
            c["new_reached"] += 1
            t["reached"] += 1
    elif o == "rejected":
        for x in (c, t):
            x["rejected"] += 1
            reason = d["reason"]
            if s.startswith("pool:"):
                reason = {"pool_budget": "budget", "pool_stock": "stock"}.get(reason)
            if reason in ("budget", "stock", "pacing"):
                x["rejected_" + reason] += 1
    elif o in ("control", "held"):
        c[o] += 1
        t[o] += 1
        if o == "held" and d.get("cost") is not None:  # a held message's cost is spent when held
            c["budget_spent"] += money(d["cost"])
            t["budget_spent"] += money(d["cost"])
    elif o == "redeemed":
        for x in (c, t):
            x["redeemed"] += 1
            # A redemption record carries its subsidy as `subsidy` (docs/semantics.md).
            x["subsidy"] += money(d["subsidy"]) if d.get("subsidy") is not None else 0


def expected_run(name, limits, days, totals, first_day, last_day):
    """The forecast's run of one strategy, as this script computes it."""
    lim = limits.get(name, {"budget": None, "stock": None, "window": None, "zone": "UTC"})
    run = {"days": [], "budget_runs_out": None, "stock_runs_out": None}
    t = totals[name]
    for k in ("grants", "deliveries", "reached", "budget_spent", "control", "held", "rejected", "rejected_budget",
              "rejected_stock", "rejected_pacing", "redeemed", "subsidy"):
        run[k] = t[k]
    budget = deliv = reached = 0
    for day in range(first_day, last_day + 1):
        c = days[name][day]
        budget += c["budget_spent"]
        deliv += c["deliveries"]
        reached += c["new_reached"]
        row = {"day": date_text(day)}
        for k in ("grants", "deliveries", "reached", "new_reached", "budget_spent", "control", "held", "rejected",
                  "rejected_budget", "rejected_stock", "rejected_pacing", "redeemed", "subsidy"):
            row[k] = c[k]
        row["budget_spent_to_date"], row["deliveries_to_date"], row["reached_to_date"] = budget, deliv, reached
        row["planned_budget_to_date"] = row["planned_stock_to_date"] = None
        if lim["window"] and lim["window"][1] > lim["window"][0]:
            lo, hi = lim["window"]
            elapsed = min(max(day_end(day, lim["zone"]), lo), hi) - lo
            if lim["budget"] is not None:
                row["planned_budget_to_date"] = lim["budget"] * elapsed // (hi - lo)
            if lim["stock"] is not None:
                row["planned_stock_to_date"] = lim["stock"] * elapsed // (hi - lo)
        if run["budget_runs_out"] is None and lim["budget"] is not None and (c["rejected_budget"] or budget >= lim["budget"]):
            run["budget_runs_out"] = row["day"]
        if run["stock_runs_out"] is None and lim["stock"] is not None and (c["rejected_stock"] or deliv >= lim["stock"]):
            run["stock_runs_out"] = row["day"]
        run["days"].append(row)
    return run


MONEY = {"budget_spent", "subsidy", "budget_spent_to_date", "planned_budget_to_date"}


def compare(where, got, want, problems):
    for k, v in want.items():
        if k == "days":
            if len(got["days"]) != len(v):
                problems.append(f"{where}: {len(got['days'])} days, want {len(v)}")
                continue
            for g, w in zip(got["days"], v):
                compare(f"{where} {w['day']}", g, {x: y for x, y in w.items() if x != "day"}, problems)
                if g["day"] != w["day"]:
                    problems.append(f"{where}: day {g['day']}, want {w['day']}")
            continue
        g = got.get(k, "<missing>")
        if k in MONEY and g is not None and g != "<missing>":
            g = money(g)
        if g != v:
            problems.append(f"{where} {k}: crm forecast {g}, independent {v}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crm", required=True)
    ap.add_argument("--forecast", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--profiles")
    ap.add_argument("--shift-seconds", type=int, required=True)
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("program")
    a = ap.parse_args()
    fc = json.load(open(a.forecast))
    source = open(a.program).read()
    limits = strategies_of(source)
    pools = pools_of(source, limits)
    zones = {name: lim["zone"] for name, lim in {**limits, **pools}.items()}
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        shifted = os.path.join(tmp, "shifted.jsonl")
        first, last = shift_events(a.events, a.shift_seconds * 1_000_000, shifted)
        replays = {"declared": replay(a.crm, a.program, a.includes, shifted, a.profiles, os.path.join(tmp, "d.jsonl"))}
        if any(s["without_pacing"] is not None for s in fc["strategies"]):
            # The same program with pacing off: `pacing even` taken out of its text.
            unpaced = os.path.join(os.path.dirname(os.path.abspath(a.program)), ".forecast_unpaced_" + os.path.basename(a.program))
            text = re.sub(r",\s*pacing\s+even\b", "", source)
            text = re.sub(r"\bpacing\s+even\s*,\s*", "", text)
            assert "pacing even" not in re.sub(r"//[^\n]*", "", text), "cannot take `pacing even` out"
            with open(unpaced, "w") as f:
                f.write(text)
            try:
                replays["without_pacing"] = replay(a.crm, unpaced, a.includes, shifted, a.profiles, os.path.join(tmp, "u.jsonl"))
            finally:
                os.remove(unpaced)
    tallies = {k: tally(v, zones) for k, v in replays.items()}
    # The days from the first to the last with a decision, in either replay.
    spans = [span for _, _, span in tallies.values() if span[0] is not None]
    first_day = min((s[0] for s in spans), default=0)
    last_day = max((s[1] for s in spans), default=-1)
    if fc["shift_seconds"] != a.shift_seconds:
        problems.append(f"shift {fc['shift_seconds']} s, want {a.shift_seconds}")
    if parse_time(fc["first_event"]) != first or parse_time(fc["last_event"]) != last:
        problems.append(f"span {fc['first_event']} .. {fc['last_event']}")
    names = [s["strategy"] for s in fc["strategies"]]
    if sorted(names) != sorted(limits):
        problems.append(f"strategies {names}, want {sorted(limits)}")
    summary = []
    for s in fc["strategies"]:
        lim = limits.get(s["strategy"], {})
        if (s["budget"] is None) != (lim.get("budget") is None) or (s["budget"] is not None and money(s["budget"]) != lim["budget"]):
            problems.append(f"{s['strategy']} budget {s['budget']}")
        if s["stock"] != lim.get("stock") or s["paced"] != lim.get("paced"):
            problems.append(f"{s['strategy']} stock {s['stock']} paced {s['paced']}")
        if s.get("zone") != lim.get("zone"):
            problems.append(f"{s['strategy']} zone {s.get('zone')}, want {lim.get('zone')}")
        for replay_name, (days, totals, _) in tallies.items():
            want = expected_run(s["strategy"], limits, days, totals, first_day, last_day)
            got = s["declared" if replay_name == "declared" else "without_pacing"]
            if got is None:
                problems.append(f"{s['strategy']}: no {replay_name} replay")
                continue
            compare(f"{s['strategy']} {replay_name}", got, want, problems)
            summary.append(f"{s['strategy']} {replay_name}: {want['grants']} grants, {want['reached']} reached, "
                           f"budget {Decimal(want['budget_spent']) / 1000000}, runs out {want['budget_runs_out']} / "
                           f"{want['stock_runs_out']}, refused by pacing {want['rejected_pacing']}")
    got_pools = fc.get("pools", [])
    if sorted("pool:" + p["pool"] for p in got_pools) != sorted(pools):
        problems.append(f"pools {[p['pool'] for p in got_pools]}, want {sorted(pools)}")
    for p in got_pools:
        key = "pool:" + p["pool"]
        lim = pools.get(key, {})
        if (p["budget"] is None) != (lim.get("budget") is None) or (p["budget"] is not None and money(p["budget"]) != lim["budget"]):
            problems.append(f"{key} budget {p['budget']}")
        if p["stock"] != lim.get("stock"):
            problems.append(f"{key} stock {p['stock']}")
        if p.get("zone") != lim.get("zone"):
            problems.append(f"{key} zone {p.get('zone')}, want {lim.get('zone')}")
        for replay_name, (days, totals, _) in tallies.items():
            want = expected_run(key, pools, days, totals, first_day, last_day)
            got = p["declared" if replay_name == "declared" else "without_pacing"]
            if got is None:
                problems.append(f"{key}: no {replay_name} replay")
                continue
            compare(f"{key} {replay_name}", got, want, problems)
            summary.append(f"{key} {replay_name}: {want['grants']} grants, {want['reached']} reached, "
                           f"budget {Decimal(want['budget_spent']) / 1000000}, runs out {want['budget_runs_out']} / "
                           f"{want['stock_runs_out']}")
    if any(s["without_pacing"] is not None for s in fc["strategies"]) != ("without_pacing" in replays):
        problems.append("the replay without pacing")
    for p in problems[:40]:
        print("MISMATCH:", p)
    if problems:
        print(f"FAIL: {len(problems)} differences")
        return 1
    for line in summary:
        print(line)
    zone_list = ", ".join(sorted({z for z in zones.values()}))
    print(f"ok: {len(fc['strategies'])} strategies and {len(got_pools)} pools x {last_day - first_day + 1} days "
          f"(local days of {zone_list}) equal the independent count")
    return 0


if __name__ == "__main__":
    sys.exit(main())
