# SPDX-License-Identifier: MIT
"""timeouts.header, timeouts.keepalive and timeouts.send, with short
configured values, measured on real connections; and the bounded memory of
a client that pipelines without reading."""

import os
import select
import socket
import time
import unittest

from hellod_harness import HellodTestCase, read_response, recv_until_close, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HEADER = 0.3
KEEPALIVE = 0.3
SEND = 0.5
# A timeout must fire no earlier than configured and well before this
# multiple of it (timers are coarse, the machine is shared).
SLACK = 5


def socket_fds(pid):
    """How many sockets the process holds (listeners + connections)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def wait_closed(sock, limit):
    """Reads until the server closes; returns (bytes read, monotonic time of the close)."""
    sock.settimeout(limit)
    return recv_until_close(sock), time.monotonic()


class TimeoutTestCase(HellodTestCase):
    def start_with(self, header=HEADER, keepalive=KEEPALIVE, send=SEND, extra=""):
        return self.start(f"timeouts: {{header: {int(header * 1000)}ms, keepalive: {int(keepalive * 1000)}ms,"
                          f" send: {int(send * 1000)}ms}}\n" + extra)

    def assert_fired(self, elapsed, timeout):
        self.assertGreaterEqual(elapsed, timeout - 0.02, "closed before the timeout")
        self.assertLess(elapsed, timeout * SLACK, "closed far later than the timeout")


class HeaderTimeoutTest(TimeoutTestCase):
    def test_half_a_request_is_closed_at_the_header_timeout(self):
        """A client that sends half its headers is closed after timeouts.header."""
        server = self.start_with()
        start = time.monotonic()
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Half")
            data, closed = wait_closed(sock, HEADER * SLACK * 2)
        self.assertNotIn(b"200 OK", data)
        self.assert_fired(closed - start, HEADER)

    def test_silent_connection_is_closed_at_the_header_timeout(self):
        """A client that connects and sends nothing is closed after timeouts.header."""
        server = self.start_with()
        start = time.monotonic()
        with server.connect() as sock:
            _, closed = wait_closed(sock, HEADER * SLACK * 2)
        self.assert_fired(closed - start, HEADER)

    def test_dribbling_does_not_extend_the_header_timeout(self):
        """One byte every 100 ms (each read making progress) does not keep the
        connection open: the header timeout counts from the first byte."""
        server = self.start_with()
        request = b"GET /" + b"d" * 60 + b" HTTP/1.1\r\nHost: t\r\n\r\n"  # 6+ s at this pace
        with server.connect() as sock:
            start = time.monotonic()
            closed_at = None
            for byte in request:
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed_at = time.monotonic()
                    break
                if select.select([sock], [], [], 0.1)[0]:
                    data, closed_at = wait_closed(sock, 1)
                    self.assertNotIn(b"200 OK", data)
                    break
            self.assertIsNotNone(closed_at, "the whole request trickled in without a timeout")
        self.assert_fired(closed_at - start, HEADER)

    def test_header_timeout_counts_from_the_first_byte_of_each_request(self):
        """On a keep-alive connection the next request's header timeout starts at
        its first byte, not at the previous response: a half request sent after
        0.5 s idle (keepalive 2 s) still gets its full 0.3 s."""
        server = self.start_with(keepalive=2.0)
        with server.connect() as sock:
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
            time.sleep(0.5)  # idle on purpose: longer than the header timeout, shorter than keepalive
            start = time.monotonic()
            sock.sendall(b"GET / HTTP/1.1\r\n")
            _, closed = wait_closed(sock, HEADER * SLACK * 2)
        self.assert_fired(closed - start, HEADER)

    def test_a_complete_request_in_time_is_served(self):
        """Headers sent in pieces but completed within the timeout are answered."""
        server = self.start_with(header=1.0)
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            time.sleep(0.2)
            sock.sendall(b"Host: t\r\n\r\n")
            self.assertEqual(read_response(sock)[0], 200)


class KeepaliveTimeoutTest(TimeoutTestCase):
    def test_idle_keepalive_connection_is_closed(self):
        """After a response, an idle connection is closed after timeouts.keepalive."""
        server = self.start_with(header=3.0)
        with server.connect() as sock:
            start = time.monotonic()
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
            _, closed = wait_closed(sock, KEEPALIVE * SLACK * 2)
        self.assert_fired(closed - start, KEEPALIVE)

    def test_idle_keepalive_uses_the_keepalive_timeout_not_the_header_one(self):
        """With header 300 ms and keepalive 3 s, an idle connection is still open
        (and serves) 0.8 s after its last response."""
        server = self.start_with(header=0.3, keepalive=3.0)
        with server.connect() as sock:
            sock.sendall(GET)
            read_response(sock)
            time.sleep(0.8)  # longer than the header timeout on purpose
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)

    def test_each_request_rearms_the_keepalive_timeout(self):
        """Requests every 0.2 s with keepalive 0.3 s keep the connection open for 1 s+."""
        server = self.start_with()
        with server.connect() as sock:
            for _ in range(6):
                sock.sendall(GET)
                self.assertEqual(read_response(sock)[0], 200)
                time.sleep(0.2)


class SendTimeoutTest(TimeoutTestCase):
    def test_client_that_never_reads_is_closed_and_memory_stays_bounded(self):
        """A client that pipelines requests as fast as it can and never reads:
        hellod stops reading from it (its output is bounded), so its RSS grows
        by a few MB at most (each 37-byte request costs a 147-byte response:
        without throttling, the tens of MB sent would cost 4x that), and the
        connection is closed at the send timeout."""
        # keepalive_requests is raised so that the connection is not simply
        # finished (a close after 10000 responses, then input discarded).
        server = self.start_with(header=10, keepalive=10,
                                 extra="limits: {keepalive_requests: 1000000000}\n")
        baseline_sockets = socket_fds(server.proc.pid)
        rss_before = server.rss_kib()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        chunk = GET * 8192  # 300 KB
        sent, cap, start = 0, 64 << 20, time.monotonic()
        while sent < cap and time.monotonic() - start < 10:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                if not select.select([], [sock], [], 0.3)[1]:
                    break  # hellod stopped reading: the send buffers are full
        blocked_at = time.monotonic()
        self.assertLess(sent, cap, "hellod read 64 MB from a client that never reads")
        rss_peak = server.rss_kib()
        wait_for(lambda: socket_fds(server.proc.pid) == baseline_sockets, timeout=SEND * SLACK * 2,
                 what="hellod to close the connection of a client that does not read")
        closed = time.monotonic()
        self.assertGreaterEqual(closed - start, SEND)
        self.assertLess(closed - blocked_at, SEND * SLACK * 2)
        self.assertLess(rss_peak - rss_before, 16 * 1024,
                        f"RSS grew from {rss_before} KiB to {rss_peak} KiB after {sent} bytes of requests")
        with server.connect() as other:
            other.sendall(GET)
            self.assertEqual(read_response(other)[0], 200)

    def test_slow_reader_of_a_big_body_within_the_timeout_gets_it_all(self):
        """A 2 MB body read in pieces, each within the send timeout, arrives whole."""
        import tempfile
        import shutil
        directory = tempfile.mkdtemp(prefix="hellod-big-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "big")
        with open(path, "wb") as f:
            f.write(b"z" * (2 << 20))
        server = self.start(f"timeouts: {{send: 2s}}\nresponse: {{body_file: {path}}}\n")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect(("127.0.0.1", server.port))
        sock.settimeout(5)
        sock.sendall(GET)
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < (2 << 20):
            time.sleep(0.01)
            data = sock.recv(256 * 1024)
            self.assertTrue(data, "closed mid-body")
            received += data
        self.assertEqual(len(received.split(b"\r\n\r\n", 1)[1]), 2 << 20)


if __name__ == "__main__":
    unittest.main()
