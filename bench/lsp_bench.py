#!/usr/bin/env python3
"""lsp_bench.py - `crm lsp` latency and memory over a long editing session (issue 12).

Usage: lsp_bench.py CRM_BINARY [--lines=2000] [--latency-edits=100] [--edits=10000] [--rss-lines=N]

1. Latency: a generated program of about --lines lines (a schema, segments, functions,
   resources and strategies, every fifth strategy checked against the others for conflicts) is
   opened; then each of --latency-edits edits changes one number in one segment, and the time
   from sending didChange to receiving its publishDiagnostics is measured (median, p90, max).
2. Memory: --edits edits, each waited for (so each is analysed), varying the text (new numbers,
   and every tenth edit a new segment name and expression, so the parser keeps meeting new
   input); the server's RSS (VmRSS of /proc/PID/status) is sampled every 1,000 edits. The
   document for this part has --rss-lines lines (default: --lines).
Prints one `name<TAB>value` line per figure (docs/performance.md quotes them).
Run it under /work/tools/run-lock on a shared machine.
"""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lsp"))
from lsp_client import Client, uri  # noqa: E402

SCHEMA = """module bench

profile {
    user_id: String
    age: Int
    city: String
    member_level: Int = 0
}

event Order {
    amount: Money(CNY)
    items: Int
    channel: Channel
}

event Visit {
    page: String
}

"""


def program(lines):
    out = [SCHEMA]
    i = 0
    while sum(s.count("\n") for s in out) < lines:
        out.append(f"""// Segment {i}: frequent buyers of tier {i % 5}.
segment seg_{i} = count(Order within {i % 50 + 1} days) >= {i % 7 + 1} and member_level >= {i % 5}

fn score_{i}(window: Duration = {i % 30 + 1} days): Int =
    if count(Order within window) > {i % 9} then 2 else 1

resource coupon coupon_{i} {{
    discount: {i % 20 + 5} CNY
    threshold: {i % 100 + 50} CNY
    use: within 7 days after claim
}}

strategy strat_{i} {{
    who: seg_{i} and age >= {18 + i % 40} and score_{i}() >= 1
    when: on Order
    where: amount >= {i % 300 + 1} CNY
    what: grant coupon_{i} via App
    how much: budget 10000 CNY, per user 1 per campaign
    priority: {i % 10 + 1}
}}

""")
        i += 1
    return "".join(out)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def option(name, default):
    for a in sys.argv[2:]:
        if a.startswith("--" + name + "="):
            return int(a.split("=", 1)[1])
    return default


def session(crm, text, path):
    c = Client([crm, "lsp"], timeout=120)
    c.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    c.notify("initialized", {})
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri(path), "languageId": "crm", "version": 1, "text": text}})
    c.wait_diagnostics(uri(path))
    return c


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    crm = os.path.abspath(sys.argv[1])
    lines = option("lines", 2000)
    latency_edits = option("latency-edits", 100)
    edits = option("edits", 10000)
    rss_lines = option("rss-lines", lines)
    tmp = tempfile.mkdtemp(prefix="crm-lsp-bench-")
    path = os.path.join(tmp, "bench.crm")

    text = program(lines)
    doc_lines = text.split("\n")
    seg_lines = [n for n, l in enumerate(doc_lines) if l.startswith("segment seg_")]
    print(f"lines\t{text.count(chr(10))}")
    c = session(crm, text, path)
    t0 = time.perf_counter()
    c.request("textDocument/documentSymbol", {"textDocument": {"uri": uri(path)}})
    print(f"first_request_ms\t{(time.perf_counter() - t0) * 1000:.1f}")
    times = []
    for k in range(latency_edits):
        n = seg_lines[(k * 7) % len(seg_lines)]
        line = doc_lines[n]
        col = line.rindex(">= ") + 3
        new = str(k % 9 + 1)
        t0 = time.perf_counter()
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": k + 2}, "contentChanges": [
            {"range": {"start": {"line": n, "character": col}, "end": {"line": n, "character": len(line)}}, "text": new}]})
        diags = c.wait_diagnostics(uri(path))
        times.append((time.perf_counter() - t0) * 1000)
        doc_lines[n] = line[:col] + new
        if any(d["severity"] == 1 for d in diags):
            raise SystemExit("unexpected errors: %r" % diags[:3])
    times.sort()
    print(f"diagnostics_latency_ms_median\t{statistics.median(times):.1f}")
    print(f"diagnostics_latency_ms_p90\t{times[int(len(times) * 0.9) - 1]:.1f}")
    print(f"diagnostics_latency_ms_max\t{times[-1]:.1f}")
    c.request("shutdown")
    c.notify("exit")
    c.close()

    text = program(rss_lines)
    doc_lines = text.split("\n")
    seg_lines = [n for n, l in enumerate(doc_lines) if l.startswith("segment seg_")]
    end_line = len(doc_lines) - 1
    c = session(crm, text, path)
    print(f"rss_kib_after_open\t{rss_kib(c.proc.pid)}")
    t_start = time.perf_counter()
    version = 2
    for k in range(1, edits + 1):
        if k % 10 == 0:
            # A new segment with a name and numbers never seen before, then removed next time.
            body = f"segment fresh_{k} = count(Visit where page == \"p{k}\" within {k % 97 + 1} days) > {k % 13}\n"
            c.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": version}, "contentChanges": [
                {"range": {"start": {"line": end_line, "character": 0}, "end": {"line": end_line, "character": 0}},
                 "text": body}]})
            version += 1
            c.wait_diagnostics(uri(path))
            c.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": version}, "contentChanges": [
                {"range": {"start": {"line": end_line, "character": 0}, "end": {"line": end_line + 1, "character": 0}},
                 "text": ""}]})
        else:
            n = seg_lines[(k * 13) % len(seg_lines)]
            line = doc_lines[n]
            col = line.rindex(">= ") + 3
            new = str(k % 9 + 1)
            c.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": version}, "contentChanges": [
                {"range": {"start": {"line": n, "character": col}, "end": {"line": n, "character": len(line)}},
                 "text": new}]})
            doc_lines[n] = line[:col] + new
        version += 1
        c.wait_diagnostics(uri(path))
        if k % 1000 == 0:
            print(f"rss_kib_after_{k}_edits\t{rss_kib(c.proc.pid)}", flush=True)
    print(f"edits_per_s\t{edits / (time.perf_counter() - t_start):.1f}")
    c.request("shutdown")
    c.notify("exit")
    rc = c.close()
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
