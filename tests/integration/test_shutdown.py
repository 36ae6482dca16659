# SPDX-License-Identifier: MIT
"""Graceful shutdown on SIGTERM and SIGINT (finish what is in flight, close
idle connections, refuse new ones, exit 0 within timeouts.shutdown), and
SIGPIPE never killing the process."""

import os
import shutil
import signal
import socket
import struct
import tempfile
import time
import unittest

from hellod_harness import HellodTestCase, read_response, recv_until_close, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def refused(port):
    """True when a new connection to the port is refused (nobody listens).
    A reset counts too: the connection reached the backlog of a listener that
    was closing, and the kernel reset it with the listener."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


def unread_by_server(port):
    """Bytes waiting in the receive queues of the server's side of established
    connections on port (rx_queue in /proc/net/tcp, see proc(5)): 0 once
    hellod has read everything sent to it."""
    unread = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            established = fields[3] == "01"
            if local_port == port and established:
                unread += int(fields[4].split(":")[1], 16)
    return unread


def wait_read_by_server(port):
    wait_for(lambda: unread_by_server(port) == 0, what="hellod to read what was sent")


def wait_eof(sock, timeout=3.0):
    sock.settimeout(timeout)
    return recv_until_close(sock)


class GracefulShutdownTest(HellodTestCase):
    def shutdown_with_request_in_flight(self, signum):
        server = self.start("timeouts: {shutdown: 10s, header: 10s}\n")
        idle = server.connect()
        self.addCleanup(idle.close)
        idle.sendall(GET)
        self.assertEqual(read_response(idle)[0], 200)
        busy = server.connect()
        self.addCleanup(busy.close)
        busy.sendall(b"GET /in-flight HTTP/1.1\r\nHost: t\r\nX-Half: ")  # half its headers
        wait_read_by_server(server.port)  # the half request is in hellod, not in a kernel queue
        server.signal(signum)
        server.wait_log(r"stopping")
        # Idle keep-alive connections are closed at once.
        self.assertEqual(wait_eof(idle), b"")
        idle.close()
        # New connections are refused.
        wait_for(lambda: refused(server.port), timeout=3, what="the listener to close")
        self.assertIsNone(server.proc.poll(), "exited with a request in flight")
        # The request in flight is finished, with Connection: close, then closed.
        busy.sendall(b"yes\r\n\r\n")
        busy.settimeout(5)
        status, headers, body, rest = read_response(busy)
        self.assertEqual((status, body, headers.get("connection")), (200, b"Hello, World!\n", "close"))
        self.assertEqual(rest + wait_eof(busy), b"")
        # hellod lingers (reads until the client closes, RFC 9112 §9.6), so
        # close as a client does; then it has nothing left and exits.
        busy.close()
        closed = time.monotonic()
        self.assertEqual(server.proc.wait(10), 0)
        self.assertLess(time.monotonic() - closed, 2, "took too long to exit after the last connection closed")

    def test_sigterm_finishes_the_request_in_flight(self):
        """SIGTERM: a half-sent request still gets its full response (Connection:
        close), an idle connection is closed, new connections are refused, exit 0."""
        self.shutdown_with_request_in_flight(signal.SIGTERM)

    def test_sigint_finishes_the_request_in_flight(self):
        """SIGINT behaves like SIGTERM."""
        self.shutdown_with_request_in_flight(signal.SIGINT)

    def test_no_connections_exits_at_once(self):
        """With nothing in flight, SIGTERM exits 0 promptly."""
        server = self.start()
        start = time.monotonic()
        self.assertEqual(server.stop(), 0)
        self.assertLess(time.monotonic() - start, 3)

    def test_big_body_read_slowly_is_delivered_whole(self):
        """A response body still being sent (8 MB, slow reader) when SIGTERM
        arrives is delivered whole before hellod exits 0."""
        directory = tempfile.mkdtemp(prefix="hellod-big-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "big")
        size = 8 << 20
        with open(path, "wb") as f:
            f.write(os.urandom(1024) * (size // 1024))
        server = self.start(f"response: {{body_file: {path}}}\ntimeouts: {{shutdown: 20s, send: 10s}}\n")
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect(("127.0.0.1", server.port))
        sock.settimeout(5)
        sock.sendall(GET)
        received = sock.recv(65536)
        server.signal(signal.SIGTERM)
        server.wait_log(r"stopping")
        while True:
            time.sleep(0.002)  # a slow reader
            data = sock.recv(256 * 1024)
            if not data:
                break
            received += data
        head, body = received.split(b"\r\n\r\n", 1)
        self.assertIn(b"Content-Length: %d" % size, head)
        with open(path, "rb") as f:
            self.assertEqual(body, f.read())
        self.assertEqual(server.proc.wait(10), 0)

    def test_shutdown_timeout_closes_the_rest(self):
        """A request that never completes does not hold the process beyond
        timeouts.shutdown: it exits 0 about then."""
        server = self.start("timeouts: {shutdown: 1s, header: 30s}\n")
        stuck = server.connect()
        self.addCleanup(stuck.close)
        stuck.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        wait_read_by_server(server.port)
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(10), 0)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.9, "did not wait for the request in flight")
        self.assertLess(elapsed, 4, "exceeded timeouts.shutdown by far")
        self.assertEqual(wait_eof(stuck), b"")


    def accepted(self, server):
        """A new connection, once hellod has accepted it (one more socket among
        its descriptors), not merely queued in the backlog."""
        def sockets():
            fd_dir = f"/proc/{server.proc.pid}/fd"
            return sum(1 for fd in os.listdir(fd_dir)
                       if os.readlink(os.path.join(fd_dir, fd)).startswith("socket:"))
        before = sockets()
        conn = server.connect()
        self.addCleanup(conn.close)
        wait_for(lambda: sockets() > before, what="hellod to accept the connection")
        return conn

    def test_a_request_sent_just_after_the_stop_began_is_answered(self):
        """A client accepted just before SIGTERM whose request arrives after
        the stop began (its bytes were on their way) gets its response, with
        Connection: close, not a closed or reset connection."""
        server = self.start("timeouts: {shutdown: 10s, header: 30s}\n")
        conn = self.accepted(server)
        server.signal(signal.SIGTERM)
        wait_for(lambda: refused(server.port), timeout=3, what="the listener to close")
        conn.sendall(GET)
        conn.settimeout(5)
        status, headers, _body, rest = read_response(conn)
        self.assertEqual((status, headers.get("connection")), (200, "close"))
        self.assertEqual(rest + wait_eof(conn), b"")
        conn.close()
        self.assertEqual(server.proc.wait(10), 0)

    def test_a_silent_new_connection_is_closed_after_a_short_grace(self):
        """One that sends nothing is closed (FIN) about a second after the stop
        began, well before timeouts.header, and hellod exits."""
        server = self.start("timeouts: {shutdown: 20s, header: 30s}\n")
        conn = self.accepted(server)
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        self.assertEqual(wait_eof(conn, timeout=10), b"")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.9, "closed without a grace")
        self.assertLess(elapsed, 5, "waited for timeouts.header")
        self.assertEqual(server.proc.wait(10), 0)


    def test_several_silent_new_connections_are_closed_after_the_grace(self):
        """Three that send nothing (a browser's preconnects, say) all get the
        grace and then a FIN, and hellod exits. Giving the grace moves a
        connection to the end of the drain list; the worker's walk over its
        connections met it there again, gave the grace again, and spun at
        full CPU without end once two such connections were waiting."""
        server = self.start("timeouts: {shutdown: 20s, header: 30s}\n")
        conns = [self.accepted(server) for _ in range(3)]
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        for conn in conns:
            self.assertEqual(wait_eof(conn, timeout=10), b"")
        self.assertLess(time.monotonic() - start, 5, "waited for timeouts.header")
        self.assertEqual(server.proc.wait(10), 0)

class SigpipeTest(HellodTestCase):
    def test_sigpipe_is_ignored(self):
        """SIGPIPE is in the process's ignored-signal mask (/proc/PID/status
        SigIgn), and a SIGPIPE sent to it (as the kernel does for a write to a
        reset connection, which the reset test below cannot force every time)
        leaves it serving."""
        server = self.start()
        with open(f"/proc/{server.proc.pid}/status") as f:
            mask = int(next(line for line in f if line.startswith("SigIgn:")).split()[1], 16)
        self.assertTrue(mask & (1 << (signal.SIGPIPE - 1)), f"SigIgn={mask:x}")
        for _ in range(3):
            server.signal(signal.SIGPIPE)
        with server.connect() as sock:
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
        self.assertIsNone(server.proc.poll())

    def test_clients_resetting_mid_response_do_not_kill_it(self):
        """Clients that reset the connection mid-response (a 4 MB body) or right
        after pipelining requests: hellod survives and serves. (On Linux the
        first write after a reset fails with ECONNRESET, a later one with EPIPE
        and SIGPIPE; hellod closes on the first, so this mostly covers the
        ECONNRESET paths; test_sigpipe_is_ignored covers the signal.)"""
        directory = tempfile.mkdtemp(prefix="hellod-big-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "big")
        with open(path, "wb") as f:
            f.write(b"p" * (4 << 20))
        server = self.start(f"response: {{body_file: {path}}}\n")
        reset = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
        for round_ in range(10):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(GET * (1 + round_ % 3))
            if round_ % 2 == 0:
                sock.settimeout(5)
                sock.recv(16384)  # mid-response
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
            sock.close()
        time.sleep(0.2)  # let hellod hit the reset connections
        self.assertIsNone(server.proc.poll(), f"hellod died: {server.proc.returncode}")
        with server.connect() as sock:
            sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.settimeout(5)
            data = sock.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data)
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
