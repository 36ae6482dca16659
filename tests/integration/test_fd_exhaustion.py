# SPDX-License-Identifier: MIT
"""File-descriptor exhaustion: hellod started with RLIMIT_NOFILE 64 (soft and
hard, so it cannot raise it) and flooded with more connections than it has
descriptors for. Like at limits.max_connections, it must hold only what fits
(it says so at start), leave the other clients waiting in the kernel backlog
(never failing on EMFILE, never spinning), and serve each waiting client as
earlier ones leave."""

import resource
import select
import socket
import time
import unittest

from hellod_harness import HellodTestCase, read_response

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
NOFILE = 64
CLIENTS = 200
EXHAUSTION_SECONDS = 2.0
# hellod is idle in an event loop while full; a busy loop would burn a whole
# core (2 s of CPU in 2 s). Sanitizer builds get the same bound: they are
# slower per event, not at waiting.
MAX_CPU_SECONDS = 0.3


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def answered_within(sockets, seconds, expected=None):
    """The sockets among `sockets` that receive a 200 response within `seconds`
    (returning early once `expected` of them have)."""
    answered = set()
    deadline = time.monotonic() + seconds
    pending = set(sockets)
    while pending and time.monotonic() < deadline and len(answered) != expected:
        readable, _, _ = select.select(list(pending), [], [], max(0.0, deadline - time.monotonic()))
        for sock in readable:
            pending.discard(sock)
            status = read_response(sock)[0]
            if status != 200:
                raise AssertionError(f"a client got {status}")
            answered.add(sock)
    return answered


class FdExhaustionTest(HellodTestCase):
    def test_more_clients_than_descriptors_wait_and_are_served_in_turn(self):
        """200 clients against a 64-descriptor hellod: it warns at start how many
        connections fit, serves exactly that many, keeps the rest waiting without
        a busy loop or an EMFILE, and serves every one of them as others leave."""
        server = self.start("limits: {max_connections: 10000}\ntimeouts: {header: 60s, keepalive: 60s}\n",
                            preexec_fn=low_nofile)
        room = int(server.wait_log(r"open-file limit only leaves room for (\d+)").group(1))
        self.assertLess(room, NOFILE)
        self.assertGreater(room, NOFILE // 2)
        clients = []
        self.addCleanup(lambda: [sock.close() for sock in clients])
        for _ in range(CLIENTS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(GET)
            clients.append(sock)

        served = answered_within(clients, 3.0)
        self.assertEqual(len(served), room, "hellod should hold exactly what its descriptors allow")
        cpu_before = server.cpu_seconds()
        time.sleep(EXHAUSTION_SECONDS)  # measuring CPU use over an interval: nothing to poll
        cpu_used = server.cpu_seconds() - cpu_before
        print(f"\nfd exhaustion: {len(served)}/{CLIENTS} held at once; "
              f"{cpu_used:.3f}s CPU in {EXHAUSTION_SECONDS}s while full")
        self.assertIsNone(server.proc.poll(), "hellod died")
        self.assertLess(cpu_used, MAX_CPU_SECONDS, "hellod spins while out of descriptors")
        self.assertNotIn("failed", server.log())

        # Each client that leaves lets a waiting one in, until all were served.
        waiting = [sock for sock in clients if sock not in served]
        deadline = time.monotonic() + 30
        while waiting:
            self.assertLess(time.monotonic(), deadline, f"{len(waiting)} clients never served")
            for sock in served:
                sock.close()
            served = answered_within(waiting, 5.0, expected=min(room, len(waiting)))
            self.assertEqual(len(served), min(room, len(waiting)),
                             "the clients that left were not all replaced by waiting ones")
            waiting = [sock for sock in waiting if sock not in served]
        for sock in served:
            sock.close()
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
