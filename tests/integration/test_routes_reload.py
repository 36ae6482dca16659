# SPDX-License-Identifier: MIT
"""Reloads that add, change and remove routes under keep-alive load from
several clients (issue 10): zero errors, and every response is the one the
configuration before or after a reload gives for that path, never anything
else (no mix of the two, no other route's response). "Before or after" is
checked against time: a request sent after the READY=1 that ends a reload
must get that reload's configuration (or a later one's, if another SIGHUP
was sent before its response arrived)."""

import signal
import socket
import threading
import time
import unittest

from hellod_harness import HellodTestCase, read_response, wait_for
from notify_receiver import NotifyReceiver

# Config A and config B differ in every way a reload can change routes:
# /change changes status and body, /removed/ goes away, /added/ appears (and
# comes first in B), /keep stays, and the top-level response changes.
CONFIG_A = r"""listen: ["127.0.0.1:0"]
workers: 2
response: {status: 404, body: "default A\n"}
routes:
  - {name: keep, match: {path: /keep}, response: {body: "keep\n"}}
  - {name: change, match: {path: /change}, response: {body: "change A\n"}}
  - {name: removed, match: {prefix: /removed/}, response: {status: 410, body: "removed A\n"}}
"""
CONFIG_B = r"""listen: ["127.0.0.1:0"]
workers: 2
response: {status: 404, body: "default B\n"}
routes:
  - {name: added, match: {prefix: /added/, methods: [GET]}, response: {status: 201, body: "added B\n"}}
  - {name: keep, match: {path: /keep}, response: {body: "keep\n"}}
  - {name: change, match: {path: /change}, response: {status: 202, body: "change B\n"}}
"""
# What each configuration answers, per path: (status, body).
EXPECTED = {
    "A": {"/keep": (200, b"keep\n"), "/change": (200, b"change A\n"),
          "/removed/x": (410, b"removed A\n"), "/added/x": (404, b"default A\n"),
          "/other": (404, b"default A\n")},
    "B": {"/keep": (200, b"keep\n"), "/change": (202, b"change B\n"),
          "/removed/x": (404, b"default B\n"), "/added/x": (201, b"added B\n"),
          "/other": (404, b"default B\n")},
}
PATHS = list(EXPECTED["A"])


def config_name(reload):
    """The configuration in force after `reload` reloads (0: the start)."""
    return "B" if reload % 2 else "A"

CLIENTS = 6
RELOADS = 12
CLIENT_SECONDS = 30  # bounds: each client stops after this long or this many requests
CLIENT_REQUESTS = 40_000


class RoutesReloadTest(HellodTestCase):
    def test_reloads_add_change_and_remove_routes_under_keepalive_load(self):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start(CONFIG_A, env=notify.env)
        notify.wait_key("READY")
        stop = threading.Event()
        lock = threading.Lock()
        seen = {path: set() for path in PATHS}  # (status, body) per path
        wrong, errors = [], []
        answered = [0]
        timeline = []  # (path, (status, body), sent, received)
        signalled = []  # time.monotonic() just before each SIGHUP

        def client(offset):
            deadline = time.monotonic() + CLIENT_SECONDS
            sock = None
            for i in range(CLIENT_REQUESTS):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                path = PATHS[(i + offset) % len(PATHS)]
                try:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                    sent = time.monotonic()
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                    status, headers, body, rest = read_response(sock)
                    got = (status, body)
                    with lock:
                        timeline.append((path, got, sent, time.monotonic()))
                        answered[0] += 1
                        seen[path].add(got)
                        if got not in (EXPECTED["A"][path], EXPECTED["B"][path]) or rest:
                            wrong.append((path, got, rest))
                    if headers.get("connection") == "close":  # keepalive_requests (10,000)
                        sock.close()
                        sock = None
                except Exception as error:  # counted, asserted below
                    with lock:
                        errors.append(f"{path}: {error!r}")
                    sock = None
            if sock is not None:
                sock.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        try:
            for reload in range(1, RELOADS + 1):
                before = answered[0]
                wait_for(lambda: answered[0] > before + 500 or errors, timeout=10,
                         what="clients to be answered between reloads")
                server.write_config(CONFIG_B if config_name(reload) == "B" else CONFIG_A)
                signalled.append(time.monotonic())
                server.signal(signal.SIGHUP)
                ready = notify.wait_key("READY", "1", count=reload + 1, timeout=10)
                self.assertTrue(ready["STATUS"].startswith("reloaded;"), ready["STATUS"])
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        took = time.monotonic() - started
        self.assertEqual(errors, [])
        self.assertEqual(wrong, [])
        # A reload is complete when its READY=1 arrives: requests sent later
        # see it; responses that arrive before the next SIGHUP see no later one.
        ready = [m.received for m in notify.with_key("READY")][1:]
        self.assertEqual(len(ready), RELOADS)
        stale = []
        for path, got, sent, received in timeline:
            done = sum(1 for t in ready if t < sent)  # reloads complete when sent
            begun = sum(1 for t in signalled if t < received)  # reloads begun by the answer
            allowed = {EXPECTED[config_name(r)][path] for r in range(done, begun + 1)}
            if got not in allowed:
                stale.append((path, got, done, begun))
        self.assertEqual(stale[:10], [], f"{len(stale)} responses from a configuration not in "
                                        "force at the time")
        # Both configurations were really served on every path.
        for path in PATHS:
            self.assertEqual(seen[path], {EXPECTED["A"][path], EXPECTED["B"][path]}, path)
        print(f"\n{answered[0]} requests from {CLIENTS} keep-alive clients over {RELOADS} "
              f"reloads in {took:.1f} s: 0 errors, 0 unexpected responses")
        # After the last reload (back to A), every path answers as A says.
        for path in PATHS:
            with server.connect() as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                self.assertEqual(read_response(sock)[:3:2], EXPECTED["A"][path])
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
