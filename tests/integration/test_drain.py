# SPDX-License-Identifier: MIT
"""health.drain (issue 10): on SIGTERM the health route fails first (503,
Connection: close) while every other route is served and new connections
are accepted; then the graceful shutdown. More stop signals skip ahead."""

import signal
import socket
import threading
import time
import unittest

from hellod_harness import (HellodTestCase, listening_socket, read_response, socket_activation,
                            wait_for)
from notify_receiver import NotifyReceiver

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
PAGE = b"GET /page HTTP/1.1\r\nHost: t\r\n\r\n"


def config(drain="3s", shutdown="5s"):
    return ('routes:\n'
            '  - {name: health, match: {path: /healthz}, response: {body: "ok\\n"}}\n'
            '  - {name: page, match: {prefix: /}, response: {body: "page\\n"}}\n'
            f'health: {{path: /healthz, drain: {drain}}}\n'
            f'timeouts: {{shutdown: {shutdown}}}\n')


class DrainTest(HellodTestCase):
    def start_notified(self, text):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start(text, env=notify.env)
        notify.wait_key("READY")
        return server, notify

    def ask(self, server, request, sock=None):
        """(status, connection header, body) on sock, or on a new connection."""
        own = sock is None
        sock = sock or server.connect()
        try:
            sock.sendall(request)
            status, headers, body, _ = read_response(sock)
            return status, headers.get("connection"), body
        finally:
            if own:
                sock.close()

    def test_health_fails_first_while_everything_else_is_served(self):
        """A client polling /healthz sees 200, then 503 + close within one poll
        of SIGTERM; another client sees only 200s on /page, on a kept-alive and
        on new connections, for the whole drain; then exit 0 in drain +
        shutdown time."""
        server, notify = self.start_notified(config(drain="3s"))
        self.assertEqual(self.ask(server, HEALTH), (200, None, b"ok\n"))
        page_results, stop = [], threading.Event()

        def page_client():
            kept = server.connect(timeout=5)
            deadline = time.monotonic() + 20
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    page_results.append(self.ask(server, PAGE, kept)[0])
                    page_results.append(self.ask(server, PAGE)[0])
                    time.sleep(0.02)
            except (OSError, AssertionError) as error:  # closed at the end of the drain
                page_results.append(repr(error))
            finally:
                kept.close()

        thread = threading.Thread(target=page_client)
        thread.start()
        self.addCleanup(thread.join, 30)
        wait_for(lambda: len(page_results) > 10, what="page client to run")
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        stopping = notify.wait_key("STOPPING", "1")
        self.assertEqual(stopping["STATUS"], "draining: health check failing, stopping in 3 s")
        extend = notify.wait_key("EXTEND_TIMEOUT_USEC")
        self.assertGreaterEqual(int(extend["EXTEND_TIMEOUT_USEC"]), 8_000_000)
        polls = []
        while True:
            polls.append(self.ask(server, HEALTH))
            if polls[-1][0] == 503 or len(polls) > 50:
                break
            time.sleep(0.05)
        self.assertEqual(polls[-1], (503, "close", b"Service Unavailable\n"))
        self.assertLessEqual(len(polls), 2, f"503 came only after {len(polls)} polls: {polls}")
        count_at_503 = len(page_results)
        self.assertEqual(server.proc.wait(3 + 5 + 10), 0)
        stopped = time.monotonic()
        stop.set()
        thread.join(30)
        self.assertGreaterEqual(stopped - signalled, 2.9)
        served_in_drain = [r for r in page_results[count_at_503:] if r == 200]
        self.assertGreater(len(served_in_drain), 20, page_results[count_at_503:])
        # Until the listener closed at the end of the drain, /page was all 200s.
        first_failure = next((i for i, r in enumerate(page_results) if r != 200), len(page_results))
        self.assertGreater(first_failure, count_at_503 + 20, page_results)
        statuses = [m["STATUS"] for m in notify.with_key("STATUS")]
        self.assertIn("draining: health check failing, stopping in 2 s", statuses)
        self.assertTrue(any(s.startswith("stopping: ") for s in statuses), statuses)

    def test_second_sigterm_skips_the_rest_of_the_drain(self):
        server, notify = self.start_notified(config(drain="60s"))
        server.signal(signal.SIGTERM)
        notify.wait_key("STOPPING", "1")
        self.assertEqual(self.ask(server, HEALTH)[0], 503)
        server.signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(10), 0)
        self.assertIn("second stop signal: skipping the rest of the drain", server.log())

    def test_third_sigterm_closes_everything_at_once(self):
        """A request in progress would hold the graceful shutdown for 60 s; the
        third stop signal closes it."""
        server, notify = self.start_notified(config(drain="60s", shutdown="60s"))
        busy = server.connect(timeout=10)
        self.addCleanup(busy.close)
        busy.sendall(b"GET /page HTTP/1.1\r\nHost:")
        server.signal(signal.SIGTERM)
        notify.wait_key("STOPPING", "1")
        server.signal(signal.SIGTERM)
        server.wait_log(r"stopping: draining 1 connection")
        server.signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(10), 0)
        self.assertEqual(busy.recv(100), b"")

    def test_without_drain_sigterm_stops_gracefully_at_once(self):
        server, notify = self.start_notified(config(drain="0s"))
        server.signal(signal.SIGTERM)
        stopping = notify.wait_key("STOPPING", "1")
        self.assertTrue(stopping["STATUS"].startswith("stopping: draining"), stopping["STATUS"])
        self.assertEqual(server.proc.wait(10), 0)

    def test_drain_under_socket_activation_leaves_the_socket_with_its_owner(self):
        """With an inherited socket (hellod.socket): the same drain, and after
        the stop the socket still listens in its owner (systemd, here the
        test): a client queued in its backlog is served by the next hellod."""
        sock = listening_socket()
        self.addCleanup(sock.close)  # the owner's copy stays open, as systemd's does
        port = sock.getsockname()[1]
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        activation = socket_activation([sock])
        activation["env"].update(notify.env)
        server = self.start(config(drain="2s"), **activation)
        notify.wait_key("READY")
        server.signal(signal.SIGTERM)
        notify.wait_key("STOPPING", "1")
        for request, expected in ((HEALTH, (503, "close", b"Service Unavailable\n")),
                                  (PAGE, (200, None, b"page\n"))):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                self.assertEqual(self.ask(server, request, client), expected)
        self.assertEqual(server.proc.wait(2 + 5 + 10), 0)
        queued = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(queued.close)
        queued.sendall(PAGE)
        activation = socket_activation([sock])
        self.start(config(drain="2s"), **activation)
        self.assertEqual(read_response(queued)[:3:2], (200, b"page\n"))


if __name__ == "__main__":
    unittest.main()
