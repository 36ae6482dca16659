# SPDX-License-Identifier: MIT
"""load_client: each kind of failure is recorded as what it is, against real sockets."""

import asyncio
import socket
import struct
import threading
import unittest

import load_client

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


class Server:
    """A listening socket on 127.0.0.1:0 whose accepted connections get behaviour(server, conn)."""

    def __init__(self, behaviour, read_first=True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.read_first = read_first  # the request, read and ignored before behaviour
        self.held = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.read_first:
                conn.recv(4096)
            self.behaviour(self, conn)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
        for conn in self.held:
            conn.close()


def answer(response):
    def behaviour(_server, conn):
        conn.sendall(response)
        conn.close()
    return behaviour


def reset(_server, conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def hold(server, conn):
    server.held.append(conn)


def load(port, count=5, timeout=2.0):
    records = asyncio.run(load_client.rate_load("127.0.0.1", port, 100.0, count, 10.0, timeout,
                                                announce=False))
    return load_client.summarise(records, 100.0)


class KindsTest(unittest.TestCase):
    def kinds_against(self, behaviour, **kwargs):
        server = Server(behaviour)
        try:
            return load(server.port, **kwargs)["kinds"]
        finally:
            server.close()

    def test_ok(self):
        summary_kinds = self.kinds_against(answer(OK))
        self.assertEqual(summary_kinds, {"ok": 5})

    def test_refused(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        try:
            self.assertEqual(load(sock.getsockname()[1])["kinds"], {"refused": 5})
        finally:
            sock.close()

    def test_reset(self):
        self.assertEqual(self.kinds_against(reset), {"reset": 5})

    def test_short_read(self):
        cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
        self.assertEqual(self.kinds_against(answer(cut)), {"short_read": 5})
        self.assertEqual(self.kinds_against(answer(b"")), {"short_read": 5})

    def test_bad_status(self):
        unavailable = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
        self.assertEqual(self.kinds_against(answer(unavailable)), {"bad_status": 5})

    def test_timeout(self):
        self.assertEqual(self.kinds_against(hold, count=2, timeout=0.3), {"timeout": 2})

    def test_summary_counts_and_bodies(self):
        server = Server(answer(OK))
        try:
            summary = load(server.port, count=20)
        finally:
            server.close()
        self.assertEqual((summary["requests"], summary["ok"], summary["failed"]), (20, 20, 0))
        self.assertEqual(summary["bodies"], {"ok\n": 20})
        self.assertEqual(len(summary["timeline"]), 20)


class InFlightTest(unittest.TestCase):
    # (start, connected, end, ok)
    SUMMARY = {"timeline": [(0.0, 0.1, 1.0, True), (0.2, 0.3, 0.5, False),
                            (0.4, None, 0.6, False), (0.6, 0.7, 0.8, True)]}

    def test_in_flight_at_a_moment(self):
        self.assertEqual(load_client.in_flight(self.SUMMARY, 0.35), 2)
        self.assertEqual(load_client.in_flight(self.SUMMARY, 0.55), 1)  # never connected: not

    def test_max_over_a_window(self):
        self.assertEqual(load_client.max_in_flight(self.SUMMARY, 0.55, 0.75), 2)
        self.assertEqual(load_client.max_in_flight(self.SUMMARY, 0.51, 0.69), 1)


if __name__ == "__main__":
    unittest.main()


def keep_alive(limit):
    """Answers pipelined requests on each connection (in a thread of its
    own), and closes it with `Connection: close` on its limit-th response,
    as limits.keepalive_requests makes hellod do. Connections go in held."""
    def answer(conn):
        answered, pending = 0, b""
        while answered < limit:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
            while b"\r\n\r\n" in pending and answered < limit:
                pending = pending.split(b"\r\n\r\n", 1)[1]
                answered += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n" +
                             (b"Connection: close\r\n" if answered == limit else b"") +
                             b"\r\nok\n")
        conn.shutdown(socket.SHUT_WR)

    def behaviour(server, conn):
        server.held.append(conn)
        threading.Thread(target=answer, args=(conn,), daemon=True).start()
    return behaviour


class BurstTest(unittest.TestCase):
    def test_every_request_is_answered_across_connections_the_server_closes(self):
        server = Server(keep_alive(limit=40), read_first=False)
        self.addCleanup(server.close)
        result = asyncio.run(load_client.burst_load("127.0.0.1", server.port, 250, 2, 10.0, 2.0,
                                                    announce=False))
        self.assertEqual(result["statuses"], {"200": 250})
        self.assertEqual(result["errors"], [])
        self.assertEqual(result["unfinished"], 0)
        self.assertGreaterEqual(len(server.held), 250 // 40)
