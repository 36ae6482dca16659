# SPDX-License-Identifier: MIT
"""Every reloaded value applies at once, to every connection (issue 9):
timeouts lowered and raised, max_connections raised and lowered, header and
body limits for requests in progress, and bodies under keep-alive load. Each
test is one of the reproductions that failed before the fix."""

import signal
import socket
import threading
import time
import unittest

from hellod_harness import (HellodTestCase, has_test_hooks, read_response, recv_until_close,
                            wait_for)
from notify_receiver import NotifyReceiver

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def config(timeouts="", limits="", body="hello", workers=1):
    return (f'listen: ["127.0.0.1:0"]\nworkers: {workers}\nresponse: {{body: "{body}"}}\n'
            f"timeouts: {{{timeouts}}}\nlimits: {{{limits}}}\n")


class ExactReloadTestCase(HellodTestCase):
    def start_notified(self, text):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start(text, env=notify.env)
        notify.wait_key("READY")
        server.notify = notify
        server.reloads = 0
        return server

    def reload(self, server, text):
        """Writes the config, sends SIGHUP and waits for the READY=1 that ends it."""
        server.write_config(text)
        server.reloads += 1
        server.signal(signal.SIGHUP)
        ready = server.notify.wait_key("READY", "1", count=server.reloads + 1)
        self.assertTrue(ready["STATUS"].startswith("reloaded;"), ready["STATUS"])
        return ready

    def keepalive_connection(self, server):
        sock = server.connect(timeout=30)
        self.addCleanup(sock.close)
        sock.sendall(GET)
        self.assertEqual(read_response(sock)[0], 200)
        return sock


class TimeoutReloadTest(ExactReloadTestCase):
    def test_lowered_keepalive_applies_to_old_and_new_idle_connections(self):
        """keepalive 60s, one idle connection; reload to 1s; a second idle
        connection: both are closed about 1 s after they began to wait, not
        behind the first one's 60 s deadline."""
        server = self.start_notified(config("keepalive: 60s"))
        first = self.keepalive_connection(server)
        self.reload(server, config("keepalive: 1s"))
        reloaded = time.monotonic()
        second = self.keepalive_connection(server)
        idle_since = time.monotonic()
        for sock in (first, second):
            sock.settimeout(8)
            self.assertEqual(recv_until_close(sock), b"")
        closed = time.monotonic()
        self.assertGreaterEqual(closed - idle_since, 0.95)
        self.assertLess(closed - reloaded, 6, "idle connections outlived the lowered keepalive")

    def test_raised_keepalive_applies_to_waits_that_start_after_the_reload(self):
        """keepalive 1s -> 30s: a connection idle since before the reload still
        ends about 1 s after it began to wait; one idle after it stays open."""
        server = self.start_notified(config("keepalive: 1s"))
        before = self.keepalive_connection(server)
        self.reload(server, config("keepalive: 30s"))
        after = self.keepalive_connection(server)
        before.settimeout(8)
        self.assertEqual(recv_until_close(before), b"")
        after.sendall(GET)  # still open well past the old 1 s
        self.assertEqual(read_response(after)[0], 200)

    def test_lowered_header_timeout_applies_to_a_request_in_progress(self):
        """header 60s; half a request; reload to 1s: closed about 1 s after its
        first byte, not 60 s."""
        server = self.start_notified(config("header: 60s"))
        sock = server.connect(timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(b"GET / HTTP/1.1\r\nHost:")
        started = time.monotonic()
        self.reload(server, config("header: 1s"))
        sock.settimeout(8)
        recv_until_close(sock)
        self.assertLess(time.monotonic() - started, 6)


class ConnectionLimitReloadTest(ExactReloadTestCase):
    def test_raised_max_connections_accepts_the_waiting_client_at_once(self):
        """max_connections 2, two idle clients, a third waits in the backlog;
        reload to 10: the third is answered at once."""
        server = self.start_notified(config(limits="max_connections: 2"))
        for _ in range(2):
            self.keepalive_connection(server)
        third = server.connect(timeout=10)
        self.addCleanup(third.close)
        third.sendall(GET)
        third.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            third.recv(1)  # waiting in the backlog, as it should
        self.reload(server, config(limits="max_connections: 10"))
        third.settimeout(5)
        self.assertEqual(read_response(third)[0], 200)

    def test_lowered_max_connections_stops_accepting_until_below_it(self):
        """max_connections 10 with three clients; reload to 2: a new client
        waits until two of the three have gone."""
        server = self.start_notified(config(limits="max_connections: 10"))
        clients = [self.keepalive_connection(server) for _ in range(3)]
        self.reload(server, config(limits="max_connections: 2"))
        waiting = server.connect(timeout=10)
        self.addCleanup(waiting.close)
        waiting.sendall(GET)
        waiting.settimeout(0.5)
        clients[0].close()
        with self.assertRaises(socket.timeout):
            waiting.recv(1)  # 2 still open: at the new limit
        clients[1].close()
        waiting.settimeout(5)
        self.assertEqual(read_response(waiting)[0], 200)


class HeaderLimitReloadTest(ExactReloadTestCase):
    def test_lowered_max_header_bytes_never_wraps(self):
        """3,000 bytes of head, reload max_header_bytes 8192 -> 1024, 50 KB
        more head: 431, never 200."""
        server = self.start_notified(config(limits="max_header_bytes: 8192"))
        sock = server.connect(timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: " + b"a" * 2970)
        self.reload(server, config(limits="max_header_bytes: 1024"))
        try:
            sock.sendall(b"a" * 50_000 + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # hellod answered and closed before all of it arrived
        status = recv_until_close(sock)[:12]
        self.assertEqual(status, b"HTTP/1.1 431")

    def test_lowered_max_body_bytes_keeps_the_limit_a_request_started_with(self):
        """A body in progress under a 1 MB limit, reload to 10 bytes: the request
        completes under the limit it started with; the next one gets the new one."""
        server = self.start_notified(config(limits="max_body_bytes: 1048576"))
        sock = server.connect(timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500)
        self.reload(server, config(limits="max_body_bytes: 10"))
        sock.sendall(b"x" * 500)
        self.assertEqual(read_response(sock)[0], 200)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        self.assertEqual(read_response(sock)[0], 413)


class ReloadEveryValueTest(ExactReloadTestCase):
    def test_raise_then_lower_every_timeout_and_limit(self):
        """Every timeout and limit raised, then lowered, by reload: each value
        is the one in force afterwards."""
        low = config("header: 1s, keepalive: 1s, send: 1s, shutdown: 5s",
                     "max_connections: 3, max_header_bytes: 1024, max_body_bytes: 16, "
                     "keepalive_requests: 2", body="low")
        high = config("header: 30s, keepalive: 30s, send: 30s, shutdown: 30s",
                      "max_connections: 100, max_header_bytes: 65536, max_body_bytes: 1000000, "
                      "keepalive_requests: 100", body="high")
        server = self.start_notified(low)
        self.reload(server, high)
        sock = self.keepalive_connection(server)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 4000 + b"\r\n\r\n")
        self.assertEqual(read_response(sock)[:3:2], (200, b"high"))
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
        status, headers, _, _ = read_response(sock)
        self.assertEqual((status, headers.get("connection")), (200, None))
        self.reload(server, low)
        # keepalive_requests 2: this connection has had 3, so this answer is its last.
        sock.sendall(GET)
        status, headers, body, _ = read_response(sock)
        self.assertEqual((status, headers.get("connection"), body), (200, "close", b"low"))
        with server.connect(timeout=10) as fresh:
            fresh.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 4000 + b"\r\n\r\n")
            self.assertEqual(recv_until_close(fresh)[:12], b"HTTP/1.1 431")
        with server.connect(timeout=10) as fresh:
            fresh.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
            self.assertEqual(recv_until_close(fresh)[:12], b"HTTP/1.1 413")
        idle = self.keepalive_connection(server)
        started = time.monotonic()
        idle.settimeout(8)
        self.assertEqual(recv_until_close(idle), b"")
        self.assertLess(time.monotonic() - started, 6)


class ReloadAcknowledgedTest(ExactReloadTestCase):
    def test_ready_comes_once_every_worker_serves_the_new_config(self):
        """4 workers: right after READY=1, every new connection (spread over
        the workers by SO_REUSEPORT) gets the new body, none the old one."""
        server = self.start_notified(config(body="old", workers=4))
        for _ in range(5):
            self.reload(server, config(body="new", workers=4))
            for _ in range(40):
                with server.connect() as sock:
                    sock.sendall(GET)
                    self.assertEqual(read_response(sock)[2], b"new")
            self.reload(server, config(body="old", workers=4))
            for _ in range(40):
                with server.connect() as sock:
                    sock.sendall(GET)
                    self.assertEqual(read_response(sock)[2], b"old")

    @unittest.skipUnless(has_test_hooks(), "needs -DHELLOD_TEST_HOOKS=ON (SIGUSR1 blocks a worker)")
    def test_ready_waits_for_a_busy_worker_and_a_second_sighup_follows(self):
        """Worker 0 blocked (test hook, 10 s): a reload sends no READY=1 until
        it has adopted the new config; a SIGHUP meanwhile reloads again after."""
        server = self.start_notified(config(body="one", workers=2))
        server.signal(signal.SIGUSR1)
        server.wait_log(r"test hook: worker 0 blocked")
        server.write_config(config(body="two", workers=2))
        server.signal(signal.SIGHUP)
        server.wait_log(r"reloading ")
        time.sleep(1)  # a READY=1 now would be premature; nothing to await but its absence
        self.assertEqual(len(server.notify.with_key("READY")), 1, server.notify.all())
        server.write_config(config(body="three", workers=2))
        server.signal(signal.SIGHUP)
        first = server.notify.wait_key("READY", "1", count=2, timeout=30)
        self.assertTrue(first["STATUS"].startswith("reloaded;"), first["STATUS"])
        second = server.notify.wait_key("READY", "1", count=3, timeout=30)
        self.assertTrue(second["STATUS"].startswith("reloaded;"), second["STATUS"])
        for _ in range(20):
            with server.connect() as sock:
                sock.sendall(GET)
                self.assertEqual(read_response(sock)[2], b"three")


class ReloadUnderLoadTest(ExactReloadTestCase):
    def test_twenty_reloads_under_keepalive_load_from_eight_clients(self):
        """8 keep-alive clients while 20 reloads alternate two bodies: zero
        errors, every response exactly one of the two bodies. Bounded: each
        client stops after 20 s or 50,000 requests."""
        bodies = (b"alpha", b"bravo")
        server = self.start_notified(config(body="alpha", workers=2))
        stop = threading.Event()
        seen, errors = [], []
        lock = threading.Lock()

        def client():
            deadline = time.monotonic() + 20
            sock = None
            for _ in range(50_000):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                try:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                    sock.sendall(GET)
                    status, headers, body, _ = read_response(sock)
                    with lock:
                        seen.append((status, body))
                    if headers.get("connection") == "close":
                        sock.close()
                        sock = None
                except Exception as error:  # counted, asserted below
                    with lock:
                        errors.append(repr(error))
                    sock = None
            if sock is not None:
                sock.close()

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            for i in range(20):
                with lock:
                    answered = len(seen)
                wait_for(lambda: len(seen) > answered + 50 or errors, timeout=10,
                         what="clients to be answered between reloads")
                self.reload(server, config(body=bodies[(i + 1) % 2].decode(), workers=2))
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        self.assertEqual(errors, [])
        self.assertEqual({status for status, _ in seen}, {200})
        self.assertEqual({body for _, body in seen}, set(bodies))


if __name__ == "__main__":
    unittest.main()
