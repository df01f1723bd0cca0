#!/usr/bin/env python3
"""Independent check of `crm report` on the Hillstrom e-mail test (standard library only).

Reads the raw CSV (not crm's ledger or events), computes per arm the users, visit and conversion
rates and spend per customer, then for each e-mail against the no-e-mail third: Newcombe's hybrid
score interval (method 10) from Wilson intervals, the pooled two-proportion z test, Welch's t
interval and test for spend (Student's t from a hand-rolled regularised incomplete beta, so
nothing is shared with crm's Boost.Math), the delta-method relative intervals and the
sample-ratio chi-square against a 50/50 split. Compares everything with the report's JSON.

usage: hillstrom_check.py HILLSTROM.csv.gz REPORT.json
"""
import csv
import gzip
import json
import math
import sys


def betacf(a, b, x):
    # Continued fraction of the incomplete beta function (modified Lentz).
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        de = d * c
        h *= de
        if abs(de - 1) < 1e-15:
            break
    return h


def betai(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(lbt) * betacf(a, b, x) / a
    return 1 - math.exp(lbt) * betacf(b, a, 1 - x) / b


def t_sf2(t, df):  # two-sided tail P(|T| > |t|)
    return betai(df / 2, 0.5, df / (df + t * t))


def t_quantile(p_two_sided, df):
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_sf2(mid, df) > p_two_sided:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


Z = 1.959963984540054  # statistics.NormalDist().inv_cdf(0.975)


def wilson(x, n):
    p = x / n
    centre = p + Z * Z / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    den = 1 + Z * Z / n
    return (centre - half) / den, (centre + half) / den


def newcombe(x1, n1, x2, n2):
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = math.erfc(abs(d) / se / math.sqrt(2))
    return d, low, high, p_value


def welch_df(v1, n1, v2, n2):
    a, b = v1 / n1, v2 / n2
    return (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))


def relative(m1, v1, n1, m2, v2, n2):
    var = v1 / n1 / m2 ** 2 + m1 ** 2 * v2 / n2 / m2 ** 4
    q = t_quantile(0.05, welch_df(v1, n1, v2, n2))
    r = m1 / m2 - 1
    return r, r - q * math.sqrt(var), r + q * math.sqrt(var)


def main():
    groups = {}
    with gzip.open(sys.argv[1], "rt", newline="") as f:
        for row in csv.DictReader(f):
            g = groups.setdefault(row["segment"], {"n": 0, "visit": 0, "conv": 0, "spend": []})
            g["n"] += 1
            g["visit"] += int(row["visit"])
            g["conv"] += int(row["conversion"])
            g["spend"].append(float(row["spend"]))
    report = json.load(open(sys.argv[2]))
    failures = []

    def close(what, got, want, rel=1e-6, absolute=1e-9):
        if got is None or not math.isclose(got, want, rel_tol=rel, abs_tol=absolute):
            failures.append(f"{what}: crm {got}, independent {want}")

    control = groups["No E-Mail"]
    published = {"Mens E-Mail": (0.1828, 0.0125, 1.42), "Womens E-Mail": (0.1514, 0.0088, 1.08)}
    for segment, strategy in (("Mens E-Mail", "mens_email"), ("Womens E-Mail", "womens_email")):
        exp = next(e for e in report["experiments"] if e["strategy"] == strategy)
        arms = {a["arm"]: a for a in exp["arms"]}
        for name, g in ((strategy, groups[segment]), ("control", control)):
            a = arms[name]
            n = g["n"]
            close(f"{strategy} {name} users", a["users"], n, 0, 0)
            close(f"{strategy} {name} visit rate", a["visit_rate"], g["visit"] / n)
            close(f"{strategy} {name} conversion rate", a["conversion_rate"], g["conv"] / n)
            close(f"{strategy} {name} spend per user", a["spend_per_user"], sum(g["spend"]) / n)
        # The published figures, as printed (two decimals of a percentage, cents).
        v, c, s = published[segment]
        a = arms[strategy]
        if round(a["visit_rate"], 4) != v or round(a["conversion_rate"], 4) != c or round(a["spend_per_user"], 2) != s:
            failures.append(f"{strategy}: not the published {v}, {c}, {s}")
        if (round(arms["control"]["visit_rate"], 4), round(arms["control"]["conversion_rate"], 4),
                round(arms["control"]["spend_per_user"], 2)) != (0.1062, 0.0057, 0.65):
            failures.append("control: not the published 0.1062, 0.0057, 0.65")
        t, k = groups[segment], control
        up = {u["metric"]: u for u in exp["uplifts"]}
        for metric, key in (("visit_rate", "visit"), ("conversion_rate", "conv")):
            d, low, high, p = newcombe(t[key], t["n"], k[key], k["n"])
            u = up[metric]
            close(f"{strategy} {metric} uplift", u["absolute"], d)
            close(f"{strategy} {metric} low", u["absolute_low"], low)
            close(f"{strategy} {metric} high", u["absolute_high"], high)
            close(f"{strategy} {metric} p", u["p_value"], p, 1e-4, 1e-300)
            p1, p2 = t[key] / t["n"], k[key] / k["n"]
            r, rl, rh = relative(p1, p1 * (1 - p1), t["n"], p2, p2 * (1 - p2), k["n"])
            close(f"{strategy} {metric} relative", u["relative"], r)
            close(f"{strategy} {metric} relative low", u["relative_low"], rl, 1e-5)
            close(f"{strategy} {metric} relative high", u["relative_high"], rh, 1e-5)
        m1, m2 = sum(t["spend"]) / t["n"], sum(k["spend"]) / k["n"]
        v1 = sum((x - m1) ** 2 for x in t["spend"]) / (t["n"] - 1)
        v2 = sum((x - m2) ** 2 for x in k["spend"]) / (k["n"] - 1)
        df = welch_df(v1, t["n"], v2, k["n"])
        se = math.sqrt(v1 / t["n"] + v2 / k["n"])
        q = t_quantile(0.05, df)
        u = up["spend_per_user"]
        close(f"{strategy} spend uplift", u["absolute"], m1 - m2)
        close(f"{strategy} spend low", u["absolute_low"], m1 - m2 - q * se, 1e-5)
        close(f"{strategy} spend high", u["absolute_high"], m1 - m2 + q * se, 1e-5)
        close(f"{strategy} spend p", u["p_value"], t_sf2((m1 - m2) / se, df), 1e-4)
        r, rl, rh = relative(m1, v1, t["n"], m2, v2, k["n"])
        close(f"{strategy} spend relative", u["relative"], r)
        close(f"{strategy} spend relative low", u["relative_low"], rl, 1e-5)
        close(f"{strategy} spend relative high", u["relative_high"], rh, 1e-5)
        if exp.get("srm_checked"):
            n = t["n"] + k["n"]
            chi = (t["n"] - n / 2) ** 2 / (n / 2) + (k["n"] - n / 2) ** 2 / (n / 2)
            close(f"{strategy} srm chi-square", exp["srm_chi_square"], chi)
            close(f"{strategy} srm p", exp["srm_p_value"], math.erfc(math.sqrt(chi / 2)), 1e-6)
        close(f"{strategy} incremental sales", exp["incremental_sales"], (m1 - m2) * t["n"], 1e-6)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("hillstrom: every figure equals the independent computation")


main()
