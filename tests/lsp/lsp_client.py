"""lsp_client.py - a small LSP client: JSON-RPC 2.0 with Content-Length framing over a child's stdio.

Used by the session tests (tests/lsp/session_test.py) and the benchmark (bench/lsp_bench.py).
It speaks to `crm lsp` exactly as an editor does: it frames every message, matches responses to
requests by id, and keeps the server's notifications (publishDiagnostics) in arrival order.
Every message in either direction is appended to `transcript`.
"""
import json
import os
import select
import subprocess
import time


class LspError(Exception):
    pass


class Client:
    def __init__(self, argv, cwd=None, env=None, timeout=30.0):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, env=env)
        self.timeout = timeout
        self.next_id = 1
        self.buf = b""
        self.notifications = []  # (method, params) not yet consumed
        self.server_requests = []  # requests the server sent (answered with a null result)
        self.transcript = []     # ("->" | "<-", message)

    # ---- framing ----
    def send_raw(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg):
        self.transcript.append(("->", msg))
        body = json.dumps(msg, ensure_ascii=False).encode("utf-8")
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read_message(self, deadline):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                headers = self.buf[:end].decode("ascii").split("\r\n")
                length = None
                for h in headers:
                    name, _, value = h.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    raise LspError("response without Content-Length: %r" % headers)
                if len(self.buf) >= end + 4 + length:
                    body = self.buf[end + 4:end + 4 + length]
                    self.buf = self.buf[end + 4 + length:]
                    msg = json.loads(body.decode("utf-8"))
                    self.transcript.append(("<-", msg))
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise LspError("timed out waiting for the server")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise LspError("the server closed its output (exit code %s): %s" %
                               (self.proc.poll(), self.proc.stderr.read().decode(errors="replace")))
            self.buf += chunk

    # ---- requests and notifications ----
    def request(self, method, params=None, expect_error=False):
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.wait_response(rid, expect_error)

    def wait_response(self, rid, expect_error=False):
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read_message(deadline)
            if "method" in msg:
                self._incoming(msg)
                continue
            if msg.get("id") != rid:
                raise LspError("response for id %r while waiting for %r: %r" % (msg.get("id"), rid, msg))
            if "error" in msg:
                if expect_error:
                    return msg["error"]
                raise LspError("%s failed: %r" % (rid, msg["error"]))
            if expect_error:
                raise LspError("expected an error, got %r" % msg)
            return msg.get("result")

    def _incoming(self, msg):
        """A notification, or a request of the server's (client/registerCapability), which is kept
        in server_requests and answered with a null result."""
        if "id" in msg:
            self.server_requests.append(msg)
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        else:
            self.notifications.append((msg["method"], msg.get("params")))

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def wait_notification(self, method, match=lambda p: True):
        """The first notification `method` whose params satisfy `match`, consuming it."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, (m, p) in enumerate(self.notifications):
                if m == method and match(p):
                    del self.notifications[i]
                    return p
            msg = self._read_message(deadline)
            if "method" in msg:
                self._incoming(msg)
            else:
                raise LspError("unexpected response %r while waiting for %s" % (msg, method))

    def wait_diagnostics(self, uri):
        return self.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)["diagnostics"]

    def read_any(self):
        return self._read_message(time.monotonic() + self.timeout)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def uri(path):
    from urllib.parse import quote
    return "file://" + quote(os.path.abspath(path))
