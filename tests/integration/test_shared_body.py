# SPDX-License-Identifier: MIT
"""One copy of each body (issue 9): a large body_file is held once by the
process, and clients that do not read it cost no copy of its unsent part."""

import os
import shutil
import socket
import tempfile
import time
import unittest

from hellod_harness import (HellodTestCase, recv_until_close, sanitizer_reports, wait_for,
                            SANITIZER_REPORTS)

BODY_BYTES = 16 << 20
CLIENTS = 20
# What a client that does not read may cost hellod beyond the kernel's socket
# buffers: the response head and a little bookkeeping, never a body copy.
PER_CLIENT_KIB = 64


def stable_rss(server, samples=5, interval=0.1, timeout=10):
    """VmRSS once it stopped moving (hellod finished writing what the kernel takes)."""
    history = []

    def settled():
        history.append(server.rss_kib())
        tail = history[-samples:]
        return tail[-1] if len(tail) == samples and max(tail) - min(tail) < 64 else None

    return wait_for(settled, timeout, interval, what="RSS to settle")


class LargeBodyTestCase(HellodTestCase):
    def start_with_body(self, size):
        directory = tempfile.mkdtemp(prefix="hellod-body-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "body.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(1024) * (size // 1024))
        return self.start(f"response: {{body_file: {path}}}\n")


class LargeResponseFlowTest(LargeBodyTestCase):
    ROUNDS = 10

    def test_output_the_socket_did_not_take_goes_on_as_soon_as_it_can(self):
        """Ten 16 MiB responses, one connection after another, to a client that
        reads at once: what the first sendmsg leaves goes through uv_write, and
        libuv must watch the socket right away, not from its next timer (the
        Date timer, up to a second later: about 5 s for the ten)."""
        server = self.start_with_body(BODY_BYTES)
        request = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        started = time.monotonic()
        for _ in range(self.ROUNDS):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(request)
                received = len(recv_until_close(sock, limit=2 * BODY_BYTES))
            self.assertGreater(received, BODY_BYTES)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, self.ROUNDS * 0.25, f"{self.ROUNDS} responses took {elapsed:.2f} s")
        self.assertEqual(sanitizer_reports(server.proc.pid), [])


@unittest.skipIf(SANITIZER_REPORTS, "sanitizer allocators keep freed memory in quarantine, "
                                    "so RSS does not show copies being released")
class SharedBodyTest(LargeBodyTestCase):
    def test_idle_process_holds_the_body_once(self):
        """RSS with a 16 MiB body exceeds RSS with a tiny one by about one body."""
        small = stable_rss(self.start_with_body(1024))
        large = stable_rss(self.start_with_body(BODY_BYTES))
        copies = (large - small) / (BODY_BYTES / 1024)
        self.assertLess(copies, 1.5, f"idle RSS {small} KiB -> {large} KiB: {copies:.2f} bodies")

    def test_clients_that_never_read_cost_no_body_copy(self):
        """20 clients send GET and never read: RSS grows by at most 64 KiB each."""
        server = self.start_with_body(BODY_BYTES)
        before = stable_rss(server)
        clients = []
        for _ in range(CLIENTS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            self.addCleanup(sock.close)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            clients.append(sock)
        # Each connection is now stuck with most of the body unsent.
        after = stable_rss(server)
        growth = after - before
        self.assertLess(growth, CLIENTS * PER_CLIENT_KIB,
                        f"RSS {before} KiB -> {after} KiB with {CLIENTS} non-reading clients")
        # They are still served in full once they read.
        clients[0].settimeout(10)
        received = 0
        while received < BODY_BYTES:
            chunk = clients[0].recv(1 << 20)
            self.assertTrue(chunk, f"closed after {received} bytes")
            received += len(chunk)
        self.assertEqual(sanitizer_reports(server.proc.pid), [])


if __name__ == "__main__":
    unittest.main()
