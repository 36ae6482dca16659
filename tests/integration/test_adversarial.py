# SPDX-License-Identifier: MIT
"""Hostile clients: slowloris, 10,000 idle connections, a client that never
reads, resets, half-closes, and request smuggling shapes. Every test proves
the server keeps serving other clients while it happens and answers a normal
request afterwards."""

import contextlib
import glob
import resource
import select
import signal
import socket
import struct
import time
import unittest

from hellod_harness import (Hellod, HellodTestCase, assert_no_sanitizer_reports, read_response,
                            recv_until_close, split_responses, wait_for)
from metrics_client import metrics_address, samples, scrape, value

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

# Sanitizer builds run several times slower; bounds on latency and timing
# are generous enough for them and still far below what a stalled loop shows.
LATENCY_BOUND = 0.5


def timed_request(port):
    """One request on a new connection; returns (status, seconds)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(GET_CLOSE)
        status = read_response(sock)[0]
    return status, time.monotonic() - start


def reset_on_close(sock):
    """SO_LINGER with a zero timeout: close() sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def peer_closed(sock):
    """True when the peer closed (EOF or reset); the socket must be non-blocking."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


@contextlib.contextmanager
def stopped(server):
    """hellod stopped (SIGSTOP, every thread seen stopped) for the block."""
    server.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: all(thread_state(path) == "T" for path in
                             glob.glob(f"/proc/{server.proc.pid}/task/*/stat")),
                 timeout=5, what="hellod's threads to stop")
        yield
    finally:
        server.proc.send_signal(signal.SIGCONT)


def thread_state(stat_path):
    try:
        with open(stat_path) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # a thread that has exited
        return "T"


class AdversarialTestCase(HellodTestCase):
    def assert_serves_normally(self, server):
        self.assertIsNone(server.proc.poll(), "hellod died")
        status, seconds = timed_request(server.port)
        self.assertEqual(status, 200)
        self.assertLess(seconds, LATENCY_BOUND)


class SlowlorisTest(AdversarialTestCase):
    def test_byte_at_a_time_headers_are_cut_at_the_header_timeout(self):
        """200 clients dribble a never-ending header block one byte every 50 ms.
        Each is closed about timeouts.header (1 s) after its first byte, while a
        normal client keeps getting answers with low latency throughout."""
        server = self.start("timeouts: {header: 1s, keepalive: 30s}\n")
        header_timeout, count = 1.0, 200
        payload = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"a" * 10000
        slow = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.setblocking(False)
            self.addCleanup(sock.close)
            slow.append({"sock": sock, "sent": 0, "first": None, "closed": None})
        latencies = []
        deadline = time.monotonic() + header_timeout * 6
        while time.monotonic() < deadline and any(c["closed"] is None for c in slow):
            now = time.monotonic()
            for conn in slow:
                if conn["closed"] is not None:
                    continue
                if peer_closed(conn["sock"]):
                    conn["closed"] = now
                    continue
                try:
                    conn["sock"].send(payload[conn["sent"]:conn["sent"] + 1])
                except (BrokenPipeError, ConnectionResetError):
                    conn["closed"] = now
                    continue
                conn["first"] = conn["first"] or now
                conn["sent"] += 1
            status, seconds = timed_request(server.port)
            self.assertEqual(status, 200)
            latencies.append(seconds)
            time.sleep(0.05)
        lifetimes = [c["closed"] - c["first"] for c in slow if c["closed"] is not None]
        self.assertEqual(len(lifetimes), count, "some slowloris connections were never closed")
        self.assertGreater(min(lifetimes), header_timeout * 0.8)
        self.assertLess(max(lifetimes), header_timeout * 3)
        latencies.sort()
        print(f"\nslowloris: {count} connections closed after {min(lifetimes):.2f}..{max(lifetimes):.2f}s;"
              f" normal client: {len(latencies)} requests, median {latencies[len(latencies) // 2] * 1000:.1f} ms,"
              f" max {latencies[-1] * 1000:.1f} ms")
        self.assertLess(latencies[-1], LATENCY_BOUND)
        self.assert_serves_normally(server)

    def test_empty_lines_before_a_request_do_not_hold_a_connection_open(self):
        """RFC 9112 §2.2 lets a server skip empty lines before a request line,
        but they are input like any other: a client sending only CRLFs must be
        cut at the header (or keep-alive) timeout. Each read of CRLFs used to
        re-arm the keep-alive timer, so such a client held its connection
        forever (fixed in 574c728)."""
        server = self.start("timeouts: {header: 1s, keepalive: 1s}\n")
        sock = server.connect()
        self.addCleanup(sock.close)
        start = time.monotonic()
        with self.assertRaises(OSError, msg="a CRLF-only client was not closed within 5 s"):
            while time.monotonic() - start < 5:
                sock.sendall(b"\r\n" * 20)
                time.sleep(0.2)
        self.assert_serves_normally(server)


def raise_nofile(wanted):
    """Raises this process's soft RLIMIT_NOFILE as far as the hard limit allows
    (hellod inherits it and raises its own soft limit to its hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ManyIdleConnectionsTest(AdversarialTestCase):
    COUNT = 10_000

    def test_ten_thousand_idle_keepalive_connections(self):
        """10,000 clients each make one request and stay connected, idle. All
        are held at once; afterwards new clients and old ones are answered
        quickly. The RSS growth per idle connection is printed."""
        limit = raise_nofile(self.COUNT + 1000)
        if limit < self.COUNT + 200:
            self.skipTest(f"RLIMIT_NOFILE hard limit {limit} is too low for {self.COUNT} connections")
        server = self.start("timeouts: {header: 120s, keepalive: 120s}\n"
                            f"limits: {{max_connections: {self.COUNT + 100}}}\n")
        rss_before = server.rss_kib()
        clients = []

        def close_clients():
            for sock in clients:
                sock.close()
        self.addCleanup(close_clients)
        start = time.monotonic()
        for _ in range(self.COUNT):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            clients.append(sock)
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
            self.assertLess(time.monotonic() - start, 240, f"only {len(clients)} connected in 240 s")
        opened = time.monotonic() - start
        rss_after = server.rss_kib()
        per_connection = (rss_after - rss_before) * 1024 / self.COUNT
        print(f"\n{self.COUNT} idle keep-alive connections opened in {opened:.1f}s; RSS "
              f"{rss_before} -> {rss_after} KiB = {per_connection:.0f} bytes per connection")
        self.assertLess(per_connection, 32 * 1024)
        for _ in range(20):
            self.assert_serves_normally(server)
        for sock in clients[:: self.COUNT // 10]:
            began = time.monotonic()
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
            self.assertLess(time.monotonic() - began, LATENCY_BOUND)


class NeverReadingClientTest(AdversarialTestCase):
    def test_pipelining_without_reading_costs_bounded_memory_and_ends_at_send_timeout(self):
        """A client pipelines thousands of requests and never reads. hellod's RSS
        stays bounded, other clients keep being served meanwhile, and the
        connection is closed once timeouts.send (2 s) passes without progress."""
        send_timeout = 2.0
        server = self.start("timeouts: {send: 2s, header: 30s, keepalive: 30s}\n"
                            "limits: {keepalive_requests: 1000000000}\n")
        rss_before = server.rss_kib()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        chunk = GET * 4096
        sent, cap, start = 0, 64 << 20, time.monotonic()
        while sent < cap and time.monotonic() - start < 10:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                self.assert_serves_normally(server)
                if not select.select([], [sock], [], 0.3)[1]:
                    break  # hellod stopped reading from it
        blocked = time.monotonic()
        self.assertLess(sent, cap, "hellod kept reading from a client that never reads")
        rss_peak = server.rss_kib()
        print(f"\nnever-reading client: {sent // len(GET)} requests sent before hellod stopped reading;"
              f" RSS {rss_before} -> {rss_peak} KiB")
        self.assertLess(rss_peak - rss_before, 16 * 1024)
        served = 0
        while not peer_closed(sock):
            self.assertLess(time.monotonic() - blocked, send_timeout * 4,
                            "the never-reading client was not closed at timeouts.send")
            self.assert_serves_normally(server)
            served += 1
            time.sleep(0.05)
        self.assertGreaterEqual(time.monotonic() - blocked, send_timeout * 0.8)
        self.assertGreater(served, 0)
        self.assert_serves_normally(server)


BIG_BODY_CONFIG = "response:\n  body: \"{}\"\n".format("x" * (2 << 20))


class ResetTest(AdversarialTestCase):
    def test_resets_mid_request(self):
        """Clients that reset at every stage of a request (line, headers, body)
        cost nothing lasting: the next client is answered."""
        server = self.start()
        partials = [b"GE", b"GET / HT", GET[:-2], b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc",
                    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"]
        for _ in range(40):
            for partial in partials:
                sock = server.connect()
                reset_on_close(sock)
                sock.sendall(partial)
                sock.close()
        self.assert_serves_normally(server)

    def test_resets_mid_response(self):
        """Clients that ask for a 2 MiB response (or many pipelined ones), read
        a little and reset: hellod drops the unsent output and serves on."""
        server = self.start(BIG_BODY_CONFIG)
        for round_ in range(30):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(GET * (1 + round_ % 5))
            self.assertTrue(sock.recv(1000).startswith(b"HTTP/1.1 200 "))
            reset_on_close(sock)
            sock.close()
            status, _, body, _ = self.big_request(server)
            self.assertEqual((status, len(body)), (200, 2 << 20))
        self.assert_serves_normally(server)

    def test_a_reset_before_a_pipelined_burst_is_read_closes_the_connection_once(self):
        """A client pipelines 1,500 requests in one write and resets before
        hellod reads them. hellod reads them all in one go (39 KB), and the
        first full write batch fails. It must stop answering there: it used
        to answer on, writing into the closed descriptor, until the request
        at keepalive_requests marked the connection as ending, and then
        close the descriptor a second time, when the number may already be
        another client's (which got this client's responses, or lost its
        socket). Each close counts once in hellod_connections_closed_total.
        (A write batch holds far fewer than 1,000 responses.)"""
        server = self.start('workers: 1\nlimits: {keepalive_requests: 1000}\n'
                            'metrics: {listen: ["127.0.0.1:0"]}\n')
        address = metrics_address(server)
        with stopped(server):
            sock = server.connect()
            sock.sendall(GET * 1500)
            reset_on_close(sock)
            sock.close()

        def counted():
            parsed = samples(scrape(address))
            accepted = value(parsed, "hellod_connections_accepted_total")
            return parsed if accepted == 1 and value(parsed, "hellod_connections_open") == 0 \
                else None
        parsed = wait_for(counted, what="the reset connection to be closed")
        closed = sum(v for (name, _), v in parsed.items() if name == "hellod_connections_closed_total")
        self.assertEqual(closed, 1)
        self.assert_serves_normally(server)

    def big_request(self, server):
        with server.connect() as sock:
            sock.sendall(GET_CLOSE)
            return read_response(sock)


class HalfCloseTest(AdversarialTestCase):
    def test_half_closed_client_gets_its_response(self):
        """shutdown(SHUT_WR) right after the request: the response still comes."""
        server = self.start()
        with server.connect() as sock:
            sock.sendall(GET)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        self.assertEqual([s for s, _, _ in split_responses(data)], [200])
        self.assert_serves_normally(server)

    def test_request_and_eof_arriving_together_on_a_waiting_connection(self):
        """A keep-alive connection already waiting for its next request gets
        that request and the client's FIN at once (hellod is stopped while
        both arrive): hellod answers and closes, well before the keep-alive
        timeout. Input is edge-triggered, so one wakeup reports both, and the
        read that takes the request must not leave the EOF unseen."""
        server = self.start("timeouts: {keepalive: 60s}\n")
        with server.connect(timeout=5) as sock:
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
            with stopped(server):
                sock.sendall(GET)
                sock.shutdown(socket.SHUT_WR)
            data = recv_until_close(sock)
        self.assertEqual([s for s, _, _ in split_responses(data)], [200])
        self.assert_serves_normally(server)

    def test_half_closed_client_gets_every_pipelined_response_of_a_big_body(self):
        """Three pipelined requests for a 2 MiB body, then SHUT_WR: all three
        responses arrive whole, although hellod sees EOF long before it has
        written them."""
        server = self.start(BIG_BODY_CONFIG)
        with server.connect(timeout=10) as sock:
            sock.sendall(GET * 3)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(1 << 20):
                data += chunk
        responses = split_responses(data)
        self.assertEqual([(s, len(b)) for s, _, b in responses], [(200, 2 << 20)] * 3)
        self.assert_serves_normally(server)


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
N = str(len(SMUGGLED)).encode()  # a Content-Length that covers exactly the smuggled request
X = format(len(SMUGGLED), "x").encode()  # the same as a chunk size

# name -> (bytes, acceptable statuses). Each carries a second request where a
# lenient parser would find one; exactly one error response may come back.
SMUGGLING = {
    "cl_then_te": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: " + str(len(SMUGGLED) + 5).encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, {400}),
    "te_then_cl": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + SMUGGLED, {400}),
    "te_chunked_twice": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, {400}),
    "te_identity_after_chunked": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED, {400}),
    "te_obfuscated_name_space": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, {400}),
    "two_different_content_lengths": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "content_length_list": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0, " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "content_length_plus_sign": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +" + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "negative_content_length": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -" + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "overflowing_content_length": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: " + str(2**64 + len(SMUGGLED)).encode() + b"\r\n\r\n" + SMUGGLED, {400, 413}),
    "negative_chunk_size": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-" + X + b"\r\n" + SMUGGLED + b"\r\n0\r\n\r\n", {400}),
    "overflowing_chunk_size": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1" + X.rjust(16, b"0") + b"\r\n" + SMUGGLED + b"\r\n0\r\n\r\n", {400, 413}),
    "chunk_size_bare_lf": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n" + SMUGGLED, {400}),
    "obs_fold_hides_te_one_space": (b"POST / HTTP/1.1\r\nHost: t\r\nX: a\r\n Transfer-Encoding: chunked\r\nContent-Length: " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "obs_fold_hides_te_two_spaces": (b"POST / HTTP/1.1\r\nHost: t\r\nX: a\r\n  Transfer-Encoding: chunked\r\nContent-Length: " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "obs_fold_hides_te_tab": (b"POST / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tTransfer-Encoding: chunked\r\nContent-Length: " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "bare_cr_in_value": (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rContent-Length: " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "bare_lf_header_end": (b"GET / HTTP/1.1\r\nHost: t\nContent-Length: " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "nul_in_header_name": (b"GET / HTTP/1.1\r\nHost: t\r\nX\x00Y: a\r\n\r\n" + SMUGGLED, {400}),
    "nul_in_method": (b"G\x00T / HTTP/1.1\r\nHost: t\r\n\r\n" + SMUGGLED, {400}),
    "space_before_colon_content_length": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length : " + N + b"\r\n\r\n" + SMUGGLED, {400}),
    "http09_line": (b"GET /\r\n" + SMUGGLED, {400}),
    "http09_line_bare_lf": (b"GET /\n" + SMUGGLED, {400}),
    "very_long_method": (b"GET" * 5000 + b" / HTTP/1.1\r\nHost: t\r\n\r\n" + SMUGGLED, {400, 414}),
    "very_long_target": (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: t\r\n\r\n" + SMUGGLED, {414}),
    "very_long_header_name": (b"GET / HTTP/1.1\r\nHost: t\r\nX" + b"n" * 20000 + b": a\r\n\r\n" + SMUGGLED, {431}),
    "http_1_2": (b"GET / HTTP/1.2\r\nHost: t\r\n\r\n" + SMUGGLED, {505}),
}


class SmugglingTest(AdversarialTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Hellod("")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        assert_no_sanitizer_reports(cls.server)

    def exchange_until_close(self, payload, pieces):
        """Sends payload in `pieces` parts; returns every byte until the close."""
        data = b""
        with self.server.connect(timeout=5) as sock:
            step = -(-len(payload) // pieces)
            try:
                for i in range(0, len(payload), step):
                    sock.sendall(payload[i:i + step])
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed after the error response, which may still be readable
            data += recv_until_close(sock)
        return data

    def send_byte_by_byte(self, payload):
        """Each byte in its own segment (TCP_NODELAY, a pause between sends), so
        hellod sees one read per byte; returns every byte until the close."""
        data = b""
        with self.server.connect(timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                for i in range(len(payload)):
                    sock.send(payload[i:i + 1])
                    time.sleep(0.002)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data += recv_until_close(sock)
        return data

    def test_obs_fold_after_an_empty_value_is_rejected_in_any_read_sizes(self):
        """Found by request_fuzzer (fixed in 922ecc7/28542e3): a fold after an
        empty value was rejected when it arrived in one read but accepted when
        each byte arrived in its own read, so a client could smuggle a
        Transfer-Encoding line past hellod's obs-fold check by pacing."""
        payload = (b"POST / HTTP/1.1\r\nHost: t\r\nX:\r\n Transfer-Encoding: chunked\r\n"
                   b"Content-Length: " + N + b"\r\n\r\n" + SMUGGLED)
        for name, data in (("one read", self.exchange_until_close(payload, 1)),
                           ("byte by byte", self.send_byte_by_byte(payload))):
            with self.subTest(reads=name):
                responses = split_responses(data)
                self.assertEqual([(s, h.get("connection")) for s, h, _ in responses], [(400, "close")])

    def test_each_shape_gets_one_error_and_a_close(self):
        """Each smuggling or malformed shape, sent at once and in small pieces,
        gets exactly one 400 (or 413/414/431/505) with Connection: close, then
        the close: never a second response parsed out of a body."""
        for name, (payload, statuses) in SMUGGLING.items():
            for pieces in (1, 7):
                with self.subTest(name=name, pieces=pieces):
                    data = self.exchange_until_close(payload, pieces)
                    responses = split_responses(data)
                    self.assertEqual(len(responses), 1, data[:2000])
                    status, headers, _ = responses[0]
                    self.assertIn(status, statuses)
                    self.assertEqual(headers.get("connection"), "close")
        self.assert_serves_normally(self.server)


if __name__ == "__main__":
    unittest.main()
