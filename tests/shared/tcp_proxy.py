#!/usr/bin/env python3
"""tcp_proxy.py LISTEN_PORT_FILE TARGET_PORT MODE_FILE - a local TCP proxy for the shared-counter
fault tests: forwards 127.0.0.1 connections to TARGET_PORT, behaving as MODE_FILE says at each
chunk: `pass` forwards, `slow` forwards after 400 ms, `blackhole` swallows (never answers),
`drop` closes the connection. Writes its port to LISTEN_PORT_FILE once listening."""
import os, socket, sys, threading, time

port_file, target, mode_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def mode():
    try:
        with open(mode_file) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            m = mode()
            if m == "drop":
                break
            if m == "blackhole":
                continue
            if m == "slow":
                time.sleep(0.4)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def serve(client):
    if mode() == "drop":
        client.close()
        return
    try:
        upstream = socket.create_connection(("127.0.0.1", target))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = ls.accept()
    serve(c)
