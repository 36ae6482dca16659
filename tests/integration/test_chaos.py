# SPDX-License-Identifier: MIT
"""Everything at once: honest and hostile clients on two workers, IPv4 and
IPv6, while the configuration flips between two versions by SIGHUP and the
metrics listener is scraped. The other tests each drive one shape; this one
mixes them, so a fault that only shows beside another shows up. Load like
this found a connection whose write failed in the middle of a pipelined
read closing its descriptor twice, when the number could already be
another thread's (a scrape got a worker's responses), and a stop that never
ended (a worker spinning over two silent new connections). Each client's
shape checks its own answer; afterwards hellod must still serve, stop with
exit 0 and leave no sanitizer report."""

import os
import random
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from hellod_harness import HellodTestCase, read_response, recv_until_close, wait_for
from metrics_client import metrics_address, scrape

# Bounds of the load: each client stops after ROUNDS shapes or when the
# reloads are done; joining waits JOIN_SECONDS at most.
CLIENTS = 10
ROUNDS = 400
RELOADS = 30
# A reload comes once the clients have finished this many shapes since the
# last one, so every configuration serves a mix of them.
SHAPES_PER_RELOAD = 100
JOIN_SECONDS = 60
TIMEOUT = 10.0  # per socket operation; far above the 2 s timeouts hellod enforces here
SHUTDOWN_SECONDS = 10
# Shapes finished before the stop, in the test of a stop under load.
SHAPES_BEFORE_STOP = 300
PATHS = ("/", "/healthz", "/api/x", "/big", "/nope?q=1")


def config(version):
    """Two versions that differ in body, in a route's body size (a response
    the kernel takes in one write or not), in the access log's format, in
    keepalive_requests (closing a client early or not) and in defer_accept
    (a silent client accepted at once or not). workers: 2 puts this file in
    the TSan suite."""
    big = 3000 if version % 2 else 200000
    return f"""listen: ["127.0.0.1:0", "[::1]:0"]
workers: 2
response: {{body: "hello {version}\\n"}}
routes:
  - name: health
    match: {{path: /healthz}}
    response: {{body: "ok\\n"}}
  - match: {{prefix: /api/, methods: [GET, HEAD]}}
    response: {{status: 503, body: "maintenance\\n", headers: {{Retry-After: "120"}}}}
  - match: {{path: /big}}
    response: {{body: "{'x' * big}"}}
health: {{path: /healthz, drain: 1s}}
timeouts: {{header: 2s, keepalive: 2s, send: 2s, shutdown: {SHUTDOWN_SECONDS}s, \
defer_accept: {"1s" if version % 2 else "0s"}}}
limits: {{max_connections: 60, max_header_bytes: 2048, max_body_bytes: 10000, \
keepalive_requests: {3 if version % 2 else 1000}}}
log: {{level: info, access: {"json" if version % 2 else "text"}, target: stderr}}
metrics: {{listen: ["127.0.0.1:0"], path: /metrics}}
"""


def request(path, extra=b"", method=b"GET", version=b"1.1"):
    return (method + b" " + path.encode() + b" HTTP/" + version + b"\r\nHost: t\r\n" + extra +
            b"\r\n")


def reset(sock):
    """Closes with RST (SO_LINGER 0) instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_head(sock):
    """The bytes up to the end of one response head (100 Continue has no body)."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        assert data, f"closed before a response head ended: {head!r}"
        head += data
    return head


def check_answer(path, status, body):
    """The answer each path has in both versions: a response that belongs
    to another route or another client fails here."""
    if path == "/healthz":
        assert (status, body) == (200, b"ok\n"), (path, status, body[:80])
    elif path.startswith("/api/"):
        assert (status, body) == (503, b"maintenance\n"), (path, status, body[:80])
    elif path == "/big":
        assert status == 200 and len(body) in (3000, 200000) and body == b"x" * len(body), \
            (path, status, body[:80])
    else:
        assert status == 200 and re.fullmatch(rb"hello \d+\n", body), (path, status, body[:80])


def expect_status(data, statuses=(200,)):
    assert any(data.startswith(b"HTTP/1.1 %d " % status) for status in statuses), data[:120]


class Shapes:
    """What one client does in a round; each method checks its own answer."""

    def __init__(self, port, port6, metrics, rng):
        self.port, self.port6, self.metrics, self.rng = port, port6, metrics, rng

    def connect(self, family=socket.AF_INET):
        host, port = ("::1", self.port6) if family == socket.AF_INET6 else ("127.0.0.1", self.port)
        return socket.create_connection((host, port), timeout=TIMEOUT)

    def keep_alive(self):
        """Up to 10 requests on one connection; hellod may close at
        keepalive_requests, and says so in the response that ends it."""
        with self.connect() as sock:
            for _ in range(self.rng.randint(1, 10)):
                path = self.rng.choice(PATHS)
                sock.sendall(request(path))
                status, headers, body, _ = read_response(sock)
                check_answer(path, status, body)
                if headers.get("connection") == "close":
                    assert recv_until_close(sock) == b""
                    return

    def pipelined_close(self):
        """Requests in one write, one of them Connection: close: nothing is
        answered after that one."""
        count = self.rng.randint(2, 6)
        closing = self.rng.randrange(count)
        with self.connect() as sock:
            sock.sendall(b"".join(request("/", b"Connection: close\r\n" if i == closing else b"")
                                  for i in range(count)))
            data = recv_until_close(sock)
        assert 1 <= data.count(b"HTTP/1.1 ") <= closing + 1, (count, closing, data)

    def garbage(self):
        with self.connect() as sock:
            sock.sendall(os.urandom(self.rng.randint(1, 3000)))
            if self.rng.random() < 0.5:
                sock.shutdown(socket.SHUT_WR)
            data = recv_until_close(sock)
        # Nothing, or an error status (400, or 501 for a method llhttp has no name for).
        assert data == b"" or data[:10] in (b"HTTP/1.1 4", b"HTTP/1.1 5"), data[:120]

    def reset_mid_request(self):
        sock = self.connect()
        sock.sendall(request("/")[:self.rng.randint(1, 20)])
        reset(sock)

    def reset_after_request(self):
        sock = self.connect()
        sock.sendall(request("/big"))
        reset(sock)

    def half_close(self):
        with self.connect() as sock:
            sock.sendall(request("/"))
            sock.shutdown(socket.SHUT_WR)
            expect_status(recv_until_close(sock))

    def byte_by_byte(self):
        with self.connect() as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for byte in request("/", b"Connection: close\r\n"):
                sock.sendall(bytes([byte]))
            expect_status(recv_until_close(sock))

    def body(self):
        kind = self.rng.choice(("length", "chunked", "expect", "too large"))
        with self.connect() as sock:
            if kind == "length":
                sock.sendall(request("/", b"Content-Length: 5\r\nConnection: close\r\n") + b"hello")
            elif kind == "chunked":
                sock.sendall(request("/", b"Transfer-Encoding: chunked\r\nConnection: close\r\n") +
                             b"5\r\nhello\r\n0\r\n\r\n")
            elif kind == "expect":
                sock.sendall(request("/", b"Content-Length: 5\r\nExpect: 100-continue\r\n"
                                          b"Connection: close\r\n"))
                assert read_head(sock).startswith(b"HTTP/1.1 100 Continue"), "no 100 Continue"
                sock.sendall(b"hello")
            else:
                sock.sendall(request("/", b"Content-Length: 99999999\r\n"))
            data = recv_until_close(sock)
        expect_status(data, (413,) if kind == "too large" else (200,))

    def oversized_header(self):
        with self.connect() as sock:
            sock.sendall(request("/", b"X-Pad: " + b"a" * self.rng.randint(3000, 9000) + b"\r\n"))
            expect_status(recv_until_close(sock), (431,))

    def http_1_0(self):
        with self.connect() as sock:
            sock.sendall(request("/", version=b"1.0"))
            expect_status(recv_until_close(sock))

    def head(self):
        with self.connect() as sock:
            sock.sendall(request("/big", b"Connection: close\r\n", method=b"HEAD"))
            data = recv_until_close(sock)
        expect_status(data)
        assert data.endswith(b"\r\n\r\n"), data[-80:]

    def ipv6(self):
        with self.connect(socket.AF_INET6) as sock:
            sock.sendall(request("/", b"Connection: close\r\n"))
            expect_status(recv_until_close(sock))

    def never_reads(self):
        """Pipelines requests for a large response into a small receive buffer
        and never reads, then resets. With keepalive_requests at 1000 hellod
        stops reading once its writes block; at 3 it closes after the third
        answer with the rest unread."""
        sock = self.connect()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(0.5)
        batch = request("/big") * 100
        try:
            for _ in range(50):  # about 130 KB: more than the socket buffers hold
                sock.sendall(batch)
        except (socket.timeout, OSError):
            pass  # hellod stopped reading: the point of the shape
        reset(sock)

    def hoard(self):
        """Holds up to 30 silent connections for up to 0.3 s, toward
        max_connections (with defer_accept 0s, hellod accepts them at once)."""
        held = []
        try:
            for _ in range(self.rng.randint(5, 30)):
                held.append(socket.create_connection(("127.0.0.1", self.port), timeout=3))
        except OSError:
            pass  # the backlog is full: also a state to serve through
        time.sleep(self.rng.random() * 0.3)  # the shape is a client that holds them idle
        for sock in held:
            if self.rng.random() < 0.5:
                reset(sock)
            else:
                sock.close()

    def scrape(self):
        assert "hellod_http_requests_total" in scrape(self.metrics)


# Honest keep-alive traffic is the bulk, as on a real server.
SHAPES = ["keep_alive"] * 6 + ["pipelined_close"] * 2 + [
    "garbage", "reset_mid_request", "reset_after_request", "half_close", "byte_by_byte",
    "body", "body", "oversized_header", "http_1_0", "head", "ipv6", "never_reads", "hoard",
    "scrape"]

# The shapes whose client may see a reset: hellod closes over their unread
# input, or they reset themselves. An honest client never should.
MAY_BE_RESET = {"garbage", "reset_mid_request", "reset_after_request", "oversized_header",
                "never_reads"}


class Clients:
    """CLIENTS threads, each running up to ROUNDS shapes until stopped.
    A failure counts unless it came once `stopping` was set (a stop refuses,
    resets and closes on clients, as it should)."""

    def __init__(self, server):
        port6 = int(next(a for a in server.addresses if a.startswith("[")).rsplit(":", 1)[1])
        metrics = metrics_address(server)
        self.stop, self.stopping = threading.Event(), threading.Event()
        self.tally, self.failures = [], []
        self.threads = [threading.Thread(target=self.client, args=(
            Shapes(server.port, port6, metrics, random.Random(seed)),)) for seed in range(CLIENTS)]
        for thread in self.threads:
            thread.start()

    def client(self, shapes):
        for _ in range(ROUNDS):
            if self.stop.is_set():
                return
            name = shapes.rng.choice(SHAPES)
            try:
                getattr(shapes, name)()
            except (ConnectionResetError, BrokenPipeError) as error:
                if name not in MAY_BE_RESET:
                    self.fail(f"{name}: {error!r}")
            except Exception as error:  # reported by the main thread
                self.fail(f"{name}: {error!r}")
            self.tally.append(name)

    def fail(self, what):
        if not self.stopping.is_set():
            self.failures.append(what)

    def wait_for_shapes(self, count, what):
        wait_for(lambda: len(self.tally) >= count or not self.running(), timeout=120, what=what)

    def running(self):
        return any(thread.is_alive() for thread in self.threads)

    def join(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(JOIN_SECONDS)


class ChaosTest(HellodTestCase):
    def test_hostile_and_honest_clients_through_reloads(self):
        """10 clients, each up to 400 shapes drawn from SHAPES, while 30
        reloads flip the configuration: no shape fails, every shape ran,
        and afterwards the last version answers and SIGTERM ends hellod
        with exit 0."""
        server = self.start(config(0))
        clients = Clients(server)
        try:
            for version in range(1, RELOADS + 1):
                clients.wait_for_shapes(len(clients.tally) + SHAPES_PER_RELOAD,
                                        f"{SHAPES_PER_RELOAD} shapes before reload {version}")
                server.write_config(config(version))
                server.signal(signal.SIGHUP)
                server.wait_log(r"info: reloaded;", timeout=30, count=version)
        finally:
            clients.join()
        self.assertEqual(clients.failures, [])
        print(f"\n{len(clients.tally)} shapes by {CLIENTS} clients across {RELOADS} reloads")
        self.assertEqual(set(clients.tally), set(SHAPES), "every shape ran at least once")
        with server.connect() as sock:
            sock.sendall(request("/", b"Connection: close\r\n"))
            self.assertEqual(read_response(sock)[2], f"hello {RELOADS}\n".encode())
        self.assertEqual(server.stop(), 0)

    def test_a_stop_under_the_same_load_ends_in_time(self):
        """The same clients, then SIGTERM while they run: /healthz fails for
        the 1 s drain, the stop follows, and hellod exits 0 within
        timeouts.shutdown, whatever state each connection was in (accepted
        and silent, mid-request, writing, lingering). Only failures before
        the SIGTERM count. A stop that left a worker spinning over its
        connections used to hang here."""
        server = self.start(config(0))  # defer_accept 0s: silent clients are accepted at once
        clients = Clients(server)
        try:
            clients.wait_for_shapes(SHAPES_BEFORE_STOP, f"{SHAPES_BEFORE_STOP} shapes")
            clients.stopping.set()
            server.signal(signal.SIGTERM)
            try:
                code = server.proc.wait(SHUTDOWN_SECONDS + 20)
            except subprocess.TimeoutExpired:
                self.fail(f"hellod did not stop within {SHUTDOWN_SECONDS + 20}s")
        finally:
            clients.join()
        self.assertEqual(clients.failures, [])
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
