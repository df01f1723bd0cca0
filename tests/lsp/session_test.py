#!/usr/bin/env python3
"""session_test.py - scripted editor sessions against `crm lsp`, compared with golden transcripts.

Usage: session_test.py CRM_BINARY [SESSION...]
Each session copies tests/lsp/workspace to a temporary folder, starts `CRM_BINARY lsp --stdio`,
drives it through tests/lsp/lsp_client.py as an editor would, checks what it must (assertions
below), and compares the whole transcript (every message both ways, with the temporary paths
replaced by $WS, $CACHE and $DOCS) with tests/lsp/golden/SESSION.transcript.
CRM_UPDATE_GOLDEN=1 rewrites the goldens instead (review the diff).
"""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lsp_client import Client, uri  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("  FAIL: " + what)


class Session:
    def __init__(self, crm, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="crm-lsp-")
        self.ws = os.path.join(self.tmp, "ws")
        shutil.copytree(os.path.join(HERE, "workspace"), self.ws)
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        self.docs = "https://crm.invalid/docs/diagnostics.md"
        self.c = Client([crm, "lsp", "--stdio", "--docs-url", self.docs], env=env)

    def uri(self, rel):
        return uri(os.path.join(self.ws, rel))

    def text(self, rel):
        with open(os.path.join(self.ws, rel), encoding="utf-8") as f:
            return f.read()

    def initialize(self):
        r = self.c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                          "workspaceFolders": [{"uri": uri(self.ws), "name": "ws"}]})
        self.c.notify("initialized", {})
        return r

    def open(self, rel, text=None, version=1):
        self.c.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.uri(rel), "languageId": "crm", "version": version,
            "text": self.text(rel) if text is None else text}})

    def change(self, rel, version, start, end, text, wait=True):
        """An incremental change; waits for the diagnostics it causes (a deterministic transcript)."""
        self.c.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri(rel), "version": version},
            "contentChanges": [{"range": {"start": {"line": start[0], "character": start[1]},
                                          "end": {"line": end[0], "character": end[1]}}, "text": text}]})
        if wait:
            return self.c.wait_diagnostics(self.uri(rel))

    def at(self, rel, line, character):
        return {"textDocument": {"uri": self.uri(rel)}, "position": {"line": line, "character": character}}

    def finish(self):
        self.c.request("shutdown")
        self.c.notify("exit")
        rc = self.c.close()
        check(rc == 0, "%s: exit code %s after shutdown and exit" % (self.name, rc))
        self.compare()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- transcripts ----
    def normalise(self, msg):
        s = json.dumps(msg, sort_keys=True, ensure_ascii=False)
        for path, name in ((os.path.join(self.tmp, "cache"), "$CACHE"), (self.ws, "$WS"), (self.docs, "$DOCS")):
            s = s.replace(path, name).replace(path.replace("/", "\\/"), name)
        return s

    def summarise(self, direction, msg):
        # Completion lists are long: the transcript keeps each item's label, kind and detail.
        if direction == "<-" and isinstance(msg.get("result"), dict) and "items" in msg["result"]:
            items = ["%s|%s|%s" % (i["label"], i["kind"], i.get("detail", "")) for i in msg["result"]["items"]]
            msg = dict(msg, result={"isIncomplete": msg["result"]["isIncomplete"], "items": items})
        return msg

    def compare(self):
        lines = []
        for direction, msg in self.c.transcript:
            lines.append(direction + " " + self.normalise(self.summarise(direction, msg)))
        got = "\n".join(lines) + "\n"
        path = os.path.join(GOLDEN, self.name + ".transcript")
        if os.environ.get("CRM_UPDATE_GOLDEN"):
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(got)
            print("  updated " + os.path.relpath(path))
            return
        try:
            with open(path, encoding="utf-8") as f:
                want = f.read()
        except FileNotFoundError:
            check(False, "%s: no golden %s (run with CRM_UPDATE_GOLDEN=1)" % (self.name, path))
            return
        if got != want:
            g, w = got.splitlines(), want.splitlines()
            for i in range(max(len(g), len(w))):
                if i >= len(g) or i >= len(w) or g[i] != w[i]:
                    print("  first difference at message %d:\n    want: %s\n    got:  %s" %
                          (i + 1, w[i] if i < len(w) else "<end>", g[i] if i < len(g) else "<end>"))
                    break
            check(False, "%s: transcript differs from %s" % (self.name, os.path.relpath(path)))


def codes(diags):
    return sorted(d.get("code", "") for d in diags)


# ---- sessions ----------------------------------------------------------------------------------

def session_protocol(crm):
    """Lifecycle and malformed input: every bad message gets a JSON-RPC error, the server survives."""
    s = Session(crm, "protocol")
    c = s.c
    err = c.request("textDocument/hover", s.at("main.crm", 0, 0), expect_error=True)
    check(err["code"] == -32002, "request before initialize: ServerNotInitialized")
    r = s.initialize()
    caps = r["capabilities"]
    check(caps["textDocumentSync"]["change"] == 2, "incremental sync")
    check(caps["positionEncoding"] == "utf-16", "UTF-16 positions")
    err = c.request("initialize", {"capabilities": {}}, expect_error=True)
    check(err["code"] == -32600, "second initialize: InvalidRequest")
    # Not JSON, not an object, no jsonrpc, a bad id, a framing error: each answered, none fatal.
    body = b"{not json"
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    check(c.read_any()["error"]["code"] == -32700, "invalid JSON: ParseError")
    body = b"[1,2]"
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    check(c.read_any()["error"]["code"] == -32600, "array: InvalidRequest")
    body = b'{"id":7,"method":"shutdown"}'
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    check(c.read_any()["error"]["code"] == -32600, "no jsonrpc member: InvalidRequest")
    body = b'{"jsonrpc":"2.0","id":{"x":1},"method":"shutdown"}'
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    check(c.read_any()["error"]["code"] == -32600, "object id: InvalidRequest")
    c.send_raw(b"Content-Type: x\r\n\r\n")
    check(c.read_any()["error"]["code"] == -32700, "no Content-Length: ParseError")
    c.send_raw(b"Content-Length: abc\r\n\r\n")
    check(c.read_any()["error"]["code"] == -32700, "bad Content-Length: ParseError")
    err = c.request("textDocument/unknownThing", {}, expect_error=True)
    check(err["code"] == -32601, "unknown method: MethodNotFound")
    err = c.request("textDocument/hover", {"position": {"line": 0}}, expect_error=True)
    check(err["code"] == -32602, "missing textDocument: InvalidParams")
    err = c.request("textDocument/hover", s.at("not-open.crm", 0, 0), expect_error=True)
    check(err["code"] == -32602, "document not open: InvalidParams")
    # A change whose range lies outside the document is refused, not applied.
    s.open("main.crm")
    check(c.wait_diagnostics(s.uri("main.crm")) == [], "main.crm opens clean")
    s.change("main.crm", 2, (500, 0), (501, 0), "garbage", wait=False)
    c.notify("$/cancelRequest", {"id": 99})
    err = c.request("textDocument/hover", s.at("main.crm", 0, 0))
    check(c.request("shutdown") is None, "shutdown answers null")
    err = c.request("textDocument/hover", s.at("main.crm", 0, 0), expect_error=True)
    check(err["code"] == -32600, "request after shutdown: InvalidRequest")
    c.notify("exit")
    rc = c.close()
    check(rc == 0, "exit after shutdown: 0")
    s.compare()
    # exit without shutdown: 1
    s2 = Session(crm, "protocol-exit")
    s2.initialize()
    s2.c.notify("exit")
    check(s2.c.close() == 1, "exit without shutdown: 1")


def frame(msg):
    body = (msg if isinstance(msg, bytes) else json.dumps(msg).encode("utf-8"))
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def session_framing(crm):
    """Bad framing followed by well-formed messages: one ParseError per malformed frame (never
    one per garbage line), then the stream is resynchronised at the next `Content-Length:` and
    the next message is served; a body that merely mentions `Content-Length:` is never split.
    No golden: the assertions are the test."""
    s = Session(crm, "framing")
    c = s.c
    s.initialize()
    rid = [100]

    def symbols(query=""):
        rid[0] += 1
        return rid[0], frame({"jsonrpc": "2.0", "id": rid[0], "method": "workspace/symbol", "params": {"query": query}})

    def after(what, bad, parse_errors=1, lost=()):
        """Sends `bad` then a request in one write; the request must be answered after exactly
        `parse_errors` ParseErrors (id null), and the requests in `lost` never."""
        i, req = symbols()
        c.send_raw(bad + req)
        errors, answered = [], []
        while True:
            m = c.read_any()
            if "method" in m and "id" not in m:
                continue  # a notification
            if m.get("id") is None:
                errors.append(m.get("error", {}))
                continue
            check(m["id"] not in lost, "%s: the swallowed request %s was answered" % (what, m["id"]))
            answered.append(m["id"])
            if m["id"] == i:
                break
        check(len(errors) == parse_errors and all(e.get("code") == -32700 for e in errors),
              "%s: %d ParseError(s) before the next request's answer, got %r" % (what, parse_errors, errors))
        check(isinstance(m.get("result"), list), "%s: the request after it is served: %r" % (what, m))
        return answered

    after("a stray line before a frame", b"oops\r\n")
    after("a run of garbage lines", b"".join(b"garbage line %d\r\n" % k for k in range(500)))
    after("stray text without a line break, glued to the header", b"oops")
    after("Content-Length: 0x10 with a body", b"Content-Length: 0x10\r\n\r\n{}")
    after("two bad frames in a row", b"Content-Length: 0x10\r\n\r\n{}Content-Length: -2\r\n\r\n[]", 2)
    after("no Content-Length, with a body", b"Content-Type: x\r\n\r\n{\"jsonrpc\":\"2.0\"}")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "shutdown"}).encode()
    after("a Content-Length shorter than the body", b"Content-Length: 5\r\n\r\n" + body)
    after("a body that is not JSON, with its length", frame(b"{not json"))
    # A Content-Length longer than what follows: the declared bytes are consumed, swallowing the
    # next request and the start of the one after it; the server resumes at the header after them.
    j, a = symbols()
    k, b = symbols()
    after("a Content-Length longer than what follows",
          b"Content-Length: %d\r\n\r\n{}" % (2 + len(a) + 5) + a + b, 1, lost=(j, k))
    # Header names are case-insensitive, after garbage too.
    i, req = symbols()
    c.send_raw(b"oops\r\n" + req.replace(b"Content-Length", b"content-LENGTH"))
    check(c.read_any()["error"]["code"] == -32700, "stray line: ParseError")
    check(isinstance(c.wait_response(i), list), "a lowercase content-length header after garbage is served")
    # A message that mentions `Content-Length:` in its JSON is read by its length, never split:
    # in sync, and as the first message after a bad frame.
    q = "Content-Length: 3\r\n\r\n{}"
    i, req = symbols(q)
    c.send_raw(req)
    check(c.wait_response(i) == [], "a body mentioning Content-Length: is one message (no symbol has that name)")
    i, req = symbols(q)
    check(i in after("a bad frame, then a body mentioning Content-Length:", b"Content-Length: x\r\n\r\n{}" + req),
          "the body mentioning Content-Length: after a bad frame is served")
    # A `Content-Length:` inside discarded text is tried as a header: one more error, nothing lost.
    after("a bad frame whose body mentions Content-Length:",
          b'Content-Length: x\r\n\r\n{"text":"Content-Length: 5"}', 2)
    c.request("shutdown")
    c.notify("exit")
    check(c.close() == 0, "framing: exit code 0 after shutdown and exit")
    shutil.rmtree(s.tmp, ignore_errors=True)


def session_editing(crm):
    """Open a broken file, coded diagnostics, fix it, empty list; incremental edits in UTF-16; format."""
    s = Session(crm, "editing")
    c = s.c
    s.initialize()
    broken = s.text("main.crm").replace("orders_30d and", "orders_3d and")
    s.open("main.crm", broken)
    d = c.wait_diagnostics(s.uri("main.crm"))
    check(codes(d) == ["E0204"], "the misspelt segment is E0204: %s" % codes(d))
    if d:
        check(d[0]["codeDescription"]["href"] == s.docs + "#e0204", "code links to docs/diagnostics.md")
        check(d[0].get("data", {}).get("fix") == "orders_30d", "the diagnostic carries its fix")
        acts = c.request("textDocument/codeAction", {"textDocument": {"uri": s.uri("main.crm")},
                                                     "range": d[0]["range"], "context": {"diagnostics": d}})
        check(len(acts) == 1 and acts[0]["edit"]["changes"][s.uri("main.crm")][0]["newText"] == "orders_30d",
              "quick fix replaces with orders_30d")
    # The fix, as an incremental change: replace `orders_3d` with `orders_30d`.
    line = broken.splitlines().index("segment regulars = orders_3d and spent(60 days) > big_order")
    check(s.change("main.crm", 2, (line, 19), (line, 28), "orders_30d") == [], "fixed: empty list")
    # A type error while a later line is half typed; then non-ASCII text before the error on its line
    # (columns are UTF-16: the CJK string is 4 units, the emoji 2).
    d = s.change("main.crm", 3, (line, 0), (line, 0), "const label = \"双十一🎉\"\nconst wrong: Int = \"x\"\n")
    check(codes(d) == ["E0401"], "type error reported: %s" % codes(d))
    # `const wrong = "双十一🎉" + 1`: the `+` is at UTF-16 column 22 (byte 30).
    d = s.change("main.crm", 4, (line + 1, 0), (line + 2, 0), "const wrong = \"双十一🎉\" + 1\n")
    check(len(d) == 1 and d[0]["range"]["start"] == {"line": line + 1, "character": 22}, "UTF-16 columns")
    # An edit that starts after the emoji on the same line, given in UTF-16 units.
    d = s.change("main.crm", 5, (line + 1, 24), (line + 1, 25), "nope")
    check(codes(d) == ["E0204"] and d[0]["range"]["start"]["character"] == 24 and
          d[0]["range"]["end"]["character"] == 28, "edit at a UTF-16 column: %s" % d)
    check(s.change("main.crm", 6, (line, 0), (line + 2, 0), "") == [], "back to clean")
    # Formatting: a badly laid out line comes back as one edit; range formatting outside it does nothing.
    s.change("main.crm", 7, (line, 0), (line + 1, 0), "segment   regulars =   orders_30d and spent(60 days)>big_order\n")
    edits = c.request("textDocument/formatting", {"textDocument": {"uri": s.uri("main.crm")},
                                                  "options": {"tabSize": 4, "insertSpaces": True}})
    check(len(edits) == 1 and edits[0]["range"]["start"]["line"] == line, "format: one edit on the bad line")
    none = c.request("textDocument/rangeFormatting", {"textDocument": {"uri": s.uri("main.crm")},
                                                      "range": {"start": {"line": 0, "character": 0},
                                                                "end": {"line": 2, "character": 0}},
                                                      "options": {"tabSize": 4, "insertSpaces": True}})
    check(none == [], "range formatting elsewhere: no edit")
    some = c.request("textDocument/rangeFormatting", {"textDocument": {"uri": s.uri("main.crm")},
                                                      "range": {"start": {"line": line, "character": 0},
                                                                "end": {"line": line, "character": 5}},
                                                      "options": {"tabSize": 4, "insertSpaces": True}})
    check(len(some) == 1, "range formatting on the line: its edit")
    # A syntax error: diagnostics still come, formatting is refused with an error.
    d = s.change("main.crm", 8, (line, 0), (line + 1, 0), "segment regulars = orders_30d and (\n")
    check(len(d) > 0 and all(x["code"].startswith("E0") for x in d), "syntax error reported with a code")
    # Analysis continues past the syntax error: a type error on another line still shows.
    d = s.change("main.crm", 9, (line - 1, 0), (line - 1, 0), "const wrong: Int = \"x\"\n")
    check("E0101" in codes(d) and "E0401" in codes(d), "type errors while a line is half typed: %s" % codes(d))
    err = c.request("textDocument/formatting", {"textDocument": {"uri": s.uri("main.crm")},
                                                "options": {"tabSize": 4, "insertSpaces": True}}, expect_error=True)
    check(err["code"] == -32803, "format with syntax errors: RequestFailed")
    # Closing clears the document's diagnostics.
    c.notify("textDocument/didClose", {"textDocument": {"uri": s.uri("main.crm")}})
    check(c.wait_diagnostics(s.uri("main.crm")) == [], "closed: diagnostics cleared")
    s.finish()


def session_imports(crm):
    """Imports resolve against open buffers: an unsaved edit of the schema shows in its importer."""
    s = Session(crm, "imports")
    c = s.c
    s.initialize()
    s.open("main.crm")
    check(c.wait_diagnostics(s.uri("main.crm")) == [], "main.crm clean")
    schema = s.text("shop/schema.crm")
    s.open("shop/schema.crm", schema)
    # Opening the schema re-checks its importer too (the buffer may differ from the file).
    got = {}
    while len(got) < 2:
        p = c.wait_notification("textDocument/publishDiagnostics")
        got[p["uri"]] = p["diagnostics"]
    check(got == {s.uri("main.crm"): [], s.uri("shop/schema.crm"): []}, "both clean")
    line = schema.splitlines().index("segment orders_30d = count(Order within 30 days) >= 2")
    # Rename the segment in the (unsaved) schema buffer: main.crm now uses an unknown name.
    s.change("shop/schema.crm", 2, (line, 8), (line, 18), "orders_month", wait=False)
    got = {}
    for _ in range(2):
        p = c.wait_notification("textDocument/publishDiagnostics")
        got[p["uri"]] = p["diagnostics"]
    check(codes(got.get(s.uri("main.crm"), [])) == ["E0204"], "the importer sees the unsaved edit")
    check(got.get(s.uri("shop/schema.crm")) == [], "schema itself is fine")
    s.finish()


def session_navigation(crm):
    """Hover, definition across files and into std, references, symbols, completion, signature help, rename."""
    s = Session(crm, "navigation")
    c = s.c
    s.initialize()
    main = s.text("main.crm")
    lines = main.splitlines()
    s.open("main.crm")
    c.wait_diagnostics(s.uri("main.crm"))

    def pos(needle, offset=0, occurrence=0):
        n = 0
        for i, l in enumerate(lines):
            j = l.find(needle)
            while j >= 0:
                if n == occurrence:
                    return i, j + offset
                n += 1
                j = l.find(needle, j + 1)
        raise AssertionError(needle)

    def hover(needle, offset=1, occurrence=0):
        l, ch = pos(needle, offset, occurrence)
        return c.request("textDocument/hover", s.at("main.crm", l, ch))

    h = hover("orders_30d")
    check(h and "segment orders_30d = count(Order within 30 days) >= 2" in h["contents"]["value"]
          and "Ordered at least twice" in h["contents"]["value"], "hover: segment with its doc")
    h = hover("spent(")
    check(h and "fn spent(window: Duration = 30 days): Money(CNY)" in h["contents"]["value"], "hover: function signature")
    h = hover("big_order", occurrence=0)
    check(h and "const big_order: Money(CNY) = 500 CNY" in h["contents"]["value"], "hover: constant and its value")
    h = hover("welcome_10", occurrence=1)
    check(h and "resource coupon welcome_10" in h["contents"]["value"], "hover: resource")
    h = hover("amount >=")
    check(h and "Order.amount: Money(CNY)" in h["contents"]["value"], "hover: trigger event field")
    h = hover("tier ==")
    check(h and "profile.tier: Tier" in h["contents"]["value"], "hover: profile field")
    h = hover("60 days", offset=1)
    check(h and "Duration" in h["contents"]["value"], "hover: type of a literal")
    # Definition across files, and into the standard library.
    l, ch = pos("orders_30d", 2)
    d = c.request("textDocument/definition", s.at("main.crm", l, ch))
    check(len(d) == 1 and d[0]["uri"] == s.uri("shop/schema.crm"), "definition in the imported module")
    l, ch = pos("Tier.Gold", 6)
    d = c.request("textDocument/definition", s.at("main.crm", l, ch))
    check(len(d) == 1 and d[0]["uri"] == s.uri("shop/schema.crm"), "definition of an enum value")
    l, ch = pos("via App", 5)
    d = c.request("textDocument/definition", s.at("main.crm", l, ch))
    check(len(d) == 1 and d[0]["uri"].endswith("/std/prelude.crm") and os.path.exists(d[0]["uri"][7:]),
          "definition of a channel: the prelude, written to the cache")
    l, ch = pos("std.rfm", 4)
    d = c.request("textDocument/definition", s.at("main.crm", l, ch))
    check(len(d) == 1 and d[0]["uri"].endswith("/std/rfm.crm"), "definition of an import: the module")
    # References across files (the schema is not open: found under the workspace folder).
    l, ch = pos("> big_order", 3)
    refs = c.request("textDocument/references", dict(s.at("main.crm", l, ch), context={"includeDeclaration": True}))
    check(sorted(r["uri"].rsplit("/", 1)[1] for r in refs) == ["main.crm", "main.crm", "schema.crm"],
          "references: the declaration and both uses")
    # Symbols.
    syms = c.request("textDocument/documentSymbol", {"textDocument": {"uri": s.uri("main.crm")}})
    check([x["name"] for x in syms] == ["welcome_10", "regulars", "thank_big_order"], "outline")
    ws = c.request("workspace/symbol", {"query": "order"})
    check({"orders_30d", "big_order", "Order"} <= {x["name"] for x in ws}, "workspace symbols")
    # Completion by context.

    def complete(line, ch):
        r = c.request("textDocument/completion", s.at("main.crm", line, ch))
        return {i["label"] for i in r["items"]}

    st = lines.index("strategy thank_big_order {")
    labels = complete(st + 1, len("    who: "))
    check({"tier", "age", "regulars", "orders_30d", "spent", "Tier.Gold"} <= labels and "amount" not in labels,
          "who: profile fields, segments, functions, enum values")
    labels = complete(st + 3, len(lines[st + 3]))
    check({"amount", "items", "tier"} <= labels, "where: the trigger event's fields and the profile's")
    labels = complete(st + 2, len("    when: on "))
    check({"Order", "Visit"} <= labels, "when: on -> event types")
    labels = complete(st + 4, len("    what: grant "))
    check(labels == {"welcome_10"}, "grant -> resources")
    labels = complete(st + 4, len("    what: grant welcome_10 via "))
    check({"App", "SMS", "WeChat"} <= labels, "via -> channels")
    labels = complete(st + 5, len("    how much: budget 1000 "))
    check({"CNY", "days"} <= labels, "after a number: units and currencies")
    s.change("main.crm", 2, (st + 6, 0), (st + 6, 0), "    \n")
    labels = complete(st + 6, 4)
    check({"who:", "split:", "priority:"} <= labels, "clause keywords at the start of a clause line")
    s.change("main.crm", 3, (st + 6, 0), (st + 6, 4), "    where: count(")
    labels = complete(st + 6, len("    where: count("))
    check(labels == {"Order", "Visit"}, "aggregate head -> event types")
    s.change("main.crm", 4, (st + 6, 0), (st + 6, len("    where: count(")), "    where: count(Order.")
    labels = complete(st + 6, len("    where: count(Order."))
    check(labels == {"amount", "items", "channel", "id", "time", "user"}, "aggregate -> the event's fields: %s" % labels)
    s.change("main.crm", 5, (st + 6, 0), (st + 6, len("    where: count(Order.")), "    where: spent(")
    sig = c.request("textDocument/signatureHelp", s.at("main.crm", st + 6, len("    where: spent(")))
    check(sig and sig["signatures"][0]["label"].startswith("spent(window: Duration"), "signature help")
    s.change("main.crm", 6, (st + 6, 0), (st + 7, 0), "")
    # Semantic tokens.
    tok = c.request("textDocument/semanticTokens/full", {"textDocument": {"uri": s.uri("main.crm")}})
    check(len(tok["data"]) % 5 == 0 and len(tok["data"]) >= 5 * 10, "semantic tokens")
    # Rename a constant declared in another file: edits in both; builtins and std refuse.
    l, ch = pos("> big_order", 3)
    pr = c.request("textDocument/prepareRename", s.at("main.crm", l, ch))
    check(pr is not None, "prepareRename on a constant")
    ed = c.request("textDocument/rename", dict(s.at("main.crm", l, ch), newName="large_order"))
    check(sorted(len(v) for v in ed["changes"].values()) == [1, 2], "rename: 1 edit in schema, 2 in main")
    err = c.request("textDocument/rename", dict(s.at("main.crm", l, ch), newName="not valid"), expect_error=True)
    check(err["code"] == -32803, "rename to an invalid name: RequestFailed")
    l, ch = pos("via App", 5)
    check(c.request("textDocument/prepareRename", s.at("main.crm", l, ch)) is None, "std symbols cannot be renamed")
    s.finish()


def session_stdlib_paths(crm):
    """A document named like a standard-library file (`<stdlib>/../../../x`: a client may give any
    URI) is never written to, nor read from, a file outside the cache's stdlib directory; the
    embedded modules are still written there. No golden: the assertions are the test."""
    s = Session(crm, "stdlib_paths")
    c = s.c
    s.initialize()
    text = "segment s = 1 + \"x\"\n"  # an error, so its diagnostics name the document
    for name in ("<stdlib>/../../../escaped.crm", "<stdlib>/std/../../../../escaped2.crm", "<stdlib>/std/rfm.crm"):
        c.notify("textDocument/didOpen", {"textDocument": {"uri": name, "languageId": "crm", "version": 1, "text": text}})
        p = c.wait_notification("textDocument/publishDiagnostics", lambda m: not m["uri"].startswith("file://" + s.ws))
        check(p["uri"] == name, "%s: diagnostics name the document as the client did (got %s)" % (name, p["uri"]))
    written = []
    for root, _, files in os.walk(s.tmp):
        written += [os.path.join(root, f) for f in files if f.startswith("escaped")]
    check(written == [], "no file written outside the stdlib cache: %s" % written)
    rfm = os.path.join(s.tmp, "cache", "crm")
    for root, _, files in os.walk(rfm):
        for f in files:
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                check("1 + \"x\"" not in fh.read(), "the cache holds no client text: %s" % f)
    # Closed, the names are the embedded modules' again, which still open from the cache
    # (definition of `std.rfm` from a real file).
    for name in ("<stdlib>/../../../escaped.crm", "<stdlib>/std/../../../../escaped2.crm", "<stdlib>/std/rfm.crm"):
        c.notify("textDocument/didClose", {"textDocument": {"uri": name}})
    s.open("main.crm")
    c.wait_diagnostics(s.uri("main.crm"))
    lines = s.text("main.crm").split("\n")
    l = next(i for i, t in enumerate(lines) if "std.rfm" in t)
    d = c.request("textDocument/definition", s.at("main.crm", l, lines[l].index("std.rfm") + 4))
    check(len(d) == 1 and d[0]["uri"].endswith("/std/rfm.crm") and os.path.exists(d[0]["uri"][7:]),
          "definition of std.rfm: the module, written to the cache")
    c.request("shutdown")
    c.notify("exit")
    check(c.close() == 0, "stdlib_paths: exit code after shutdown and exit")
    shutil.rmtree(s.tmp, ignore_errors=True)


def write(s, rel, text):
    path = os.path.join(s.ws, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def end_session(s, name):
    s.c.request("shutdown")
    s.c.notify("exit")
    check(s.c.close() == 0, "%s: exit code after shutdown and exit" % name)
    shutil.rmtree(s.tmp, ignore_errors=True)


def session_import_errors(crm):
    """Errors located in an imported module that is not open (a user module, or a standard module
    missing what the schema must supply) show as one error at the importer's `import` line, with
    the real places as related information. No golden: the assertions are the test."""
    s = Session(crm, "import_errors")
    c = s.c
    write(s, "lib8.crm", "module lib8\nprofile { a: Int }\nsegment bad = a > \"x\"\n")
    write(s, "usr8.crm", "module usr8\nimport lib8\nsegment t = bad\n")
    write(s, "m4.crm", "module m4\nimport std.rfm\n")
    s.initialize()
    s.open("usr8.crm")
    d = c.wait_diagnostics(s.uri("usr8.crm"))
    check(codes(d) == ["E0210"], "usr8.crm: one error for lib8's (got %s)" % d)
    if d:
        check(d[0]["range"]["start"]["line"] == 1 and "`lib8`" in d[0]["message"], "at `import lib8`: %s" % d[0])
        rel = d[0].get("relatedInformation", [])
        check(len(rel) == 1 and rel[0]["location"]["uri"] == s.uri("lib8.crm") and
              rel[0]["location"]["range"]["start"]["line"] == 2, "related: lib8.crm:3 (got %s)" % rel)
    s.open("m4.crm")
    d = c.wait_diagnostics(s.uri("m4.crm"))
    check(codes(d) == ["E0210"], "m4.crm: one error for std.rfm's (got %s)" % d)
    if d:
        check(d[0]["range"]["start"]["line"] == 1 and "amount" in d[0]["message"], "at `import std.rfm`: %s" % d[0])
        rel = d[0].get("relatedInformation", [])
        check(len(rel) == 1 and rel[0]["location"]["uri"].endswith("/std/rfm.crm"), "related: std/rfm.crm (got %s)" % rel)
    end_session(s, "import_errors")


def session_rename_stdlib(crm):
    """A standard-library function is not renamed (docs/lsp.md): prepareRename gives null, rename
    fails with RequestFailed, and no edit names the stdlib cache."""
    s = Session(crm, "rename_stdlib")
    c = s.c
    write(s, "a1.crm", "module a1\nimport std.lifecycle\nevent Order { amount: Money(CNY) }\nsegment s = stage() == Silent\n")
    s.initialize()
    s.open("a1.crm")
    c.wait_diagnostics(s.uri("a1.crm"))
    at = s.at("a1.crm", 3, 13)
    check(c.request("textDocument/prepareRename", at) is None, "prepareRename of std.lifecycle's stage(): null")
    e = c.request("textDocument/rename", dict(at, newName="zz"), expect_error=True)
    check(e.get("code") == -32803 and "standard library" in e.get("message", ""), "rename refused: %s" % e)
    # A user function of the same workspace still renames.
    write(s, "a2.crm", "module a2\nfn f(): Int = 1\nconst k = f()\n")
    s.open("a2.crm")
    c.wait_diagnostics(s.uri("a2.crm"))
    r = c.request("textDocument/rename", dict(s.at("a2.crm", 2, 10), newName="g"))
    check(list(r["changes"].keys()) == [s.uri("a2.crm")] and len(r["changes"][s.uri("a2.crm")]) == 2,
          "a user function renames in its file: %s" % r)
    end_session(s, "rename_stdlib")


def session_watched_files(crm):
    """An imported file changed on disk (not open) re-checks its open importers: the server asks
    for a watcher when the client can register one, and acts on didChangeWatchedFiles."""
    s = Session(crm, "watched_files")
    c = s.c
    write(s, "lib2.crm", "module lib2\nprofile { age: Int }\nsegment adults = age >= 18\n")
    write(s, "main2.crm", "module main2\nimport lib2\nsegment grown = adults\n")
    c.request("initialize", {"processId": None, "rootUri": None,
                             "capabilities": {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}},
                             "workspaceFolders": [{"uri": uri(s.ws), "name": "ws"}]})
    c.notify("initialized", {})
    s.open("main2.crm")
    check(c.wait_diagnostics(s.uri("main2.crm")) == [], "main2.crm clean")
    regs = [r for r in c.server_requests if r["method"] == "client/registerCapability"]
    check(len(regs) == 1 and regs[0]["params"]["registrations"][0]["method"] == "workspace/didChangeWatchedFiles",
          "the server registers a watcher for .crm files: %s" % c.server_requests)
    write(s, "lib2.crm", "module lib2\nprofile { age: Int }\nsegment adultz = age >= 18\n")
    c.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": s.uri("lib2.crm"), "type": 2}]})
    d = c.wait_diagnostics(s.uri("main2.crm"))
    check(codes(d) == ["E0204"], "main2.crm sees lib2.crm's change on disk: %s" % d)
    write(s, "lib2.crm", "module lib2\nprofile { age: Int }\nsegment adults = age >= 18\n")
    c.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": s.uri("lib2.crm"), "type": 2}]})
    check(c.wait_diagnostics(s.uri("main2.crm")) == [], "and its change back")
    end_session(s, "watched_files")


def session_docs_link(crm):
    """Without --docs-url a code links to docs/diagnostics.md installed for the binary
    (PREFIX/share/doc/crm/ for PREFIX/bin/crm), and has no link when there is none: no path of the
    machine that built it is baked in (it linked into the build's worktree, tester F12 d). No
    golden: the assertions are the test."""
    tmp = tempfile.mkdtemp(prefix="crm-lsp-docs-")
    try:
        exe = os.path.join(tmp, "bin", "crm")
        os.makedirs(os.path.dirname(exe))
        shutil.copy2(crm, exe)

        def first_diagnostic():
            c = Client([exe, "lsp"], env=dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache")))
            c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
            c.notify("initialized", {})
            u = uri(os.path.join(tmp, "a.crm"))
            c.notify("textDocument/didOpen", {"textDocument": {"uri": u, "languageId": "crm", "version": 1,
                                                               "text": "segment s = zz\n"}})
            d = c.wait_diagnostics(u)
            c.request("shutdown")
            c.notify("exit")
            check(c.close() == 0, "docs_link: exit code after shutdown and exit")
            return d[0] if d else {}

        d = first_diagnostic()
        check(d.get("code") == "E0204" and "codeDescription" not in d,
              "docs_link: no installed docs, no link: %s" % d)
        doc = os.path.join(tmp, "share", "doc", "crm", "diagnostics.md")
        os.makedirs(os.path.dirname(doc))
        with open(doc, "w", encoding="utf-8") as f:
            f.write("# Diagnostics\n")
        d = first_diagnostic()
        check(d.get("codeDescription", {}).get("href") == uri(doc) + "#e0204",
              "docs_link: the installed page: %s" % d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def session_atomic_change(crm):
    """A didChange is all or none: with several changes of which one has a range outside the document
    (as the changes before it leave it), or one malformed (no text), none is applied (the good ones
    were) and the log says so truthfully; the next valid change applies to the text as it was."""
    s = Session(crm, "atomic_change")
    c = s.c
    s.initialize()
    s.open("main.crm")
    check(c.wait_diagnostics(s.uri("main.crm")) == [], "atomic_change: main.crm opens clean")
    doc = {"uri": s.uri("main.crm")}

    def symbols():
        return c.request("textDocument/documentSymbol", {"textDocument": doc})

    def change(version, changes):
        c.notify("textDocument/didChange", {"textDocument": dict(doc, version=version), "contentChanges": changes})

    def at(line, ch):
        return {"line": line, "character": ch}

    def logs():
        return [m["params"]["message"] for d, m in c.transcript if d == "<-" and m.get("method") == "window/logMessage"]

    before = symbols()
    shift = {"range": {"start": at(0, 0), "end": at(0, 0)}, "text": "\n\n\n"}
    change(2, [shift, {"range": {"start": at(500, 0), "end": at(501, 0)}, "text": "garbage"}])
    check(symbols() == before, "atomic_change: a change outside the document: the good change before it was applied")
    check(any("change 2 of 2 has a range outside" in m and "none of the changes was applied" in m for m in logs()),
          "atomic_change: the log does not say that none was applied: %s" % logs())
    change(3, [shift, {"range": {"start": at(0, 0), "end": at(0, 0)}}])  # the second has no text
    check(symbols() == before, "atomic_change: a malformed change: the good change before it was applied")
    check(any("ignored malformed notification" in m for m in logs()), "atomic_change: no log of the malformed change")
    # Both together are applied: the symbols move down 3 lines.
    change(4, [shift, {"range": {"start": at(0, 0), "end": at(0, 0)}, "text": "// moved\n"}])
    after = symbols()
    check(len(after) == len(before) and all(a["range"]["start"]["line"] == b["range"]["start"]["line"] + 4
                                            for a, b in zip(after, before)),
          "atomic_change: two good changes were not both applied")
    check(c.request("shutdown") is None, "atomic_change: shutdown")
    c.notify("exit")
    check(c.close() == 0, "atomic_change: exit after shutdown: 0")


def session_transitive_buffer(crm):
    """A (open) imports B (not open), which imports C (open, edited, not saved): A's check uses C's
    buffer, as it does for an import of its own; C's saved text was read through B. No golden:
    the assertions are the test."""
    s = Session(crm, "transitive_buffer")
    c = s.c
    write(s, "c9.crm", "module c9\nprofile { age: Int }\nsegment adultz = age >= 18\n")
    write(s, "b9.crm", "module b9\nimport c9\nsegment grown = adults\n")
    write(s, "a9.crm", "module a9\nimport b9\nsegment g = grown\n")
    s.initialize()
    # C's buffer declares the `adults` B uses; its saved text does not.
    s.open("c9.crm", "module c9\nprofile { age: Int }\nsegment adults = age >= 18\n")
    check(c.wait_diagnostics(s.uri("c9.crm")) == [], "c9.crm clean")
    s.open("a9.crm")
    d = c.wait_diagnostics(s.uri("a9.crm"))
    check(d == [], "a9.crm sees c9.crm's buffer through b9.crm (got %s)" % d)
    # An edit of C re-checks A: now B's `adults` is unknown (one E0210 at `import b9`).
    s.change("c9.crm", 2, (2, 8), (2, 14), "adultz")
    d = c.wait_diagnostics(s.uri("a9.crm"))
    check(codes(d) == ["E0210"], "a9.crm after the edit of c9.crm: one error for b9's (got %s)" % d)
    end_session(s, "transitive_buffer")


SESSIONS = {"protocol": session_protocol, "atomic_change": session_atomic_change, "framing": session_framing, "editing": session_editing, "imports": session_imports,
            "navigation": session_navigation, "stdlib_paths": session_stdlib_paths,
            "import_errors": session_import_errors, "rename_stdlib": session_rename_stdlib,
            "watched_files": session_watched_files, "docs_link": session_docs_link,
            "transitive_buffer": session_transitive_buffer}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    crm = os.path.abspath(sys.argv[1])
    for name in sys.argv[2:] or SESSIONS:
        print("session " + name)
        try:
            SESSIONS[name](crm)
        except Exception as e:  # a protocol failure ends the session; the others still run
            FAILURES.append("%s: %s: %s" % (name, type(e).__name__, e))
            print("  FAIL: %s: %s" % (type(e).__name__, e))
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all sessions passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
