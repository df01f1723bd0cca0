#!/usr/bin/env python3
"""Embedding crm in Python through its C API (ctypes, standard library only).

Compiles a strategy from in-memory modules, feeds a day of events, reads the decisions as typed
fields and checks them, then asks `explain` why a user got nothing. Run:

    python3 examples/embedding/python/example.py build/libcrm.so

Exit status 0 when every check holds (CI runs it as the ctest `example_python_ctypes`).
"""
import json
import sys
from decimal import Decimal

from crm_ctypes import ERR_INPUT, ERR_PROGRAM, Crm, CrmError

SCHEMA = """module shop.schema
profile { age: Int  city: String }
event Order { amount: Money(CNY) }
"""

RULES = """module shop.rules
import shop.schema

resource coupon thanks_10 { discount: 10.50 CNY  threshold: 50 CNY }

segment adult = age >= 18
segment repeat_buyer = count(Order within 30 days) >= 2

// The second order of an adult earns a coupon, at most one per user per day.
strategy thanks {
    who: repeat_buyer and adult
    when: on Order
    what: grant thanks_10 via App code "THX10"
    how much: per user 1 per day
}
"""

PROFILES = [
    {"user": "alice", "age": 34, "city": "Hangzhou"},
    {"user": "bob", "age": 16, "city": "Wuhan"},
]

EVENTS = [
    {"id": "o1", "type": "Order", "user": "alice", "time": "2026-11-11T01:00:00Z", "amount": "60"},
    {"id": "o2", "type": "Order", "user": "bob", "time": "2026-11-11T01:30:00Z", "amount": "80"},
    {"id": "o3", "type": "Order", "user": "alice", "time": "2026-11-11T02:00:00Z", "amount": "70.5"},
    {"id": "o4", "type": "Order", "user": "bob", "time": "2026-11-11T02:30:00Z", "amount": "90"},
    {"id": "o5", "type": "Order", "user": "alice", "time": "2026-11-11T03:00:00Z", "amount": "99"},
]

NOV11_0300 = 1794366000000000  # 2026-11-11T03:00:00Z in microseconds since the epoch

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: example.py path/to/libcrm.so")
    crm = Crm(sys.argv[1])
    print(f"crm {crm.version}")

    # A program with a mistake is the user's error: diagnostics, not an exception.
    bad = crm.compile_sources({"shop.schema": SCHEMA, "shop.rules": RULES.replace("age >= 18", "agee >= 18")})
    check(not bad.ok, "a misspelt field does not compile")
    diag = bad.diagnostics[0]
    check(diag["severity"] == "error" and diag["file"] == "shop/rules.crm" and diag["line"] == 6,
          f"the diagnostic points at shop/rules.crm:6 ({diag['code']}: {diag['message']})")
    try:
        bad.program()
        check(False, "no program from a failed compilation")
    except CrmError as e:
        check(e.status == ERR_PROGRAM, f"asking for its program is {e.status_name}")

    compilation = crm.compile_sources({"shop.schema": SCHEMA, "shop.rules": RULES})
    check(compilation.ok, "the strategy compiles" + ("" if compilation.ok else "\n" + compilation.render()))
    program = compilation.program()
    check(program.strategies == ["thanks"], f"strategies: {program.strategies}")
    check(program.segments == ["adult", "repeat_buyer"], f"segments: {program.segments}")

    runtime = program.runtime()
    for p in PROFILES:
        runtime.load_profile(json.dumps(p))
    decisions = []
    for ev in EVENTS:
        for d in runtime.process_event(json.dumps(ev)):
            decisions.append(d)
            print("      " + d["json"])
    decisions += runtime.finish()

    # alice's second order earns the coupon; her third is over the daily cap; bob is a minor.
    check(len(decisions) == 2, f"two decisions ({len(decisions)})")
    granted, capped = decisions[0], decisions[1]
    check(granted["outcome"] == "granted" and granted["user"] == "alice" and granted["event"] == "o3",
          "alice's second order (o3) is granted")
    check(granted["amount_millionths"] == 10_500_000 and granted["amount"] == Decimal("10.5")
          and granted["currency"] == "CNY", f"the coupon is worth 10.50 CNY ({granted['amount']})")
    check(granted["resource"] == "thanks_10" and granted["channel"] == "App" and granted["code"] == "THX10",
          "via App, code THX10")
    check(json.loads(granted["json"])["amount"] == "10.5", "the JSON line says the same amount")
    check(capped["outcome"] == "rejected" and capped["event"] == "o5" and capped["reason"],
          f"alice's third order (o5) is rejected: {capped['reason']}")
    check(all(d["user"] != "bob" for d in decisions), "bob (16) gets nothing")

    # Bad data is the caller's error too; the runtime carries on unchanged.
    try:
        runtime.process_event('{"id":"o6","type":"Order","user":"alice","time":"yesterday","amount":"1"}')
        check(False, "a bad time is refused")
    except CrmError as e:
        check(e.status == ERR_INPUT and "ISO-8601" in e.message, f"a bad time is {e.status_name}: {e.message}")

    audience = runtime.audience(NOV11_0300)
    check(audience == {"adult": 1, "repeat_buyer": 2, "thanks": 1}, f"audience at 03:00: {audience}")
    runtime.close()

    why = program.explain("bob", profiles="\n".join(json.dumps(p) for p in PROFILES),
                          events="\n".join(json.dumps(e) for e in EVENTS), event_id="o4")
    print("      " + why.replace("\n", "\n      "))
    check("strategy thanks: does not qualify" in why and "age = 16, needs >= 18" in why,
          "explain says bob does not qualify for thanks on o4: age = 16, needs >= 18")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
