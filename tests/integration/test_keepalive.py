# SPDX-License-Identifier: MIT
"""Connection persistence (RFC 9112 §9.3), keepalive_requests, pipelining
(responses in order, and in one write per read), and request bodies being
consumed without ever being parsed as requests."""

import re
import socket
import time
import unittest

from hellod_harness import (HellodTestCase, read_response, recv_until_close, split_responses,
                            wait_for)


def get(target="/", version="1.1", extra=""):
    return f"GET {target} HTTP/{version}\r\nHost: test\r\n{extra}\r\n".encode()


def expect_eof(test, sock, timeout=3.0):
    """Asserts the server closes the connection (EOF or reset) with no more bytes."""
    sock.settimeout(timeout)
    rest = recv_until_close(sock)
    test.assertEqual(rest, b"", "unexpected bytes after the last response")


class PersistenceTest(HellodTestCase):
    def setUp(self):
        self.server = self.start()

    def test_http11_stays_open_by_default(self):
        """Three HTTP/1.1 requests on one connection, no Connection header in the answers."""
        with self.server.connect() as sock:
            for _ in range(3):
                sock.sendall(get())
                status, headers, body, extra = read_response(sock)
                self.assertEqual((status, body, extra), (200, b"Hello, World!\n", b""))
                self.assertNotIn("connection", headers)

    def test_http11_connection_close_is_honoured(self):
        """Connection: close -> the response says Connection: close and the server closes."""
        with self.server.connect() as sock:
            sock.sendall(get(extra="Connection: close\r\n"))
            status, headers, _, extra = read_response(sock)
            self.assertEqual((status, headers.get("connection"), extra), (200, "close", b""))
            expect_eof(self, sock)

    def test_http11_connection_close_among_other_tokens(self):
        """A close token in a list (Connection: foo, close) is honoured too."""
        with self.server.connect() as sock:
            sock.sendall(get(extra="Connection: upgrade-not, close\r\n"))
            _, headers, _, _ = read_response(sock)
            self.assertEqual(headers.get("connection"), "close")
            expect_eof(self, sock)

    def test_http10_closes_by_default(self):
        """HTTP/1.0 without keep-alive: one response with Connection: close, then close."""
        with self.server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            status, headers, body, _ = read_response(sock)
            self.assertEqual((status, body), (200, b"Hello, World!\n"))
            self.assertEqual(headers.get("connection"), "close")
            expect_eof(self, sock)

    def test_http10_keep_alive_on_request(self):
        """HTTP/1.0 with Connection: keep-alive: the response says keep-alive and the
        connection answers a second request."""
        with self.server.connect() as sock:
            for _ in range(2):
                sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                status, headers, body, _ = read_response(sock)
                self.assertEqual((status, body), (200, b"Hello, World!\n"))
                self.assertEqual(headers.get("connection"), "keep-alive")
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            _, headers, _, _ = read_response(sock)
            self.assertEqual(headers.get("connection"), "close")
            expect_eof(self, sock)

    def test_pipelined_requests_after_connection_close_are_not_answered(self):
        """Requests pipelined behind a Connection: close are dropped (RFC 9112 §9.6)."""
        with self.server.connect() as sock:
            sock.sendall(get() + get(extra="Connection: close\r\n") + get() + get())
            responses = split_responses(recv_until_close(sock))
        self.assertEqual([h.get("connection") for _, h, _ in responses], [None, "close"])


class KeepaliveRequestsTest(HellodTestCase):
    def test_third_response_closes_with_keepalive_requests_3(self):
        """limits.keepalive_requests: 3 -> the 3rd response says Connection: close and the server closes."""
        server = self.start("limits: {keepalive_requests: 3}\n")
        with server.connect() as sock:
            seen = []
            for _ in range(3):
                sock.sendall(get())
                _, headers, _, _ = read_response(sock)
                seen.append(headers.get("connection"))
            self.assertEqual(seen, [None, None, "close"])
            expect_eof(self, sock)

    def test_pipelined_past_keepalive_requests(self):
        """Five pipelined requests with keepalive_requests: 3 get exactly three answers."""
        server = self.start("limits: {keepalive_requests: 3}\n")
        with server.connect() as sock:
            sock.sendall(get() * 5)
            responses = split_responses(recv_until_close(sock))
        self.assertEqual([h.get("connection") for _, h, _ in responses], [None, None, "close"])


class PipeliningTest(HellodTestCase):
    def test_responses_in_order(self):
        """32 pipelined requests, GET and HEAD alternating, sent in one sendall: 32
        responses, in order (a HEAD answer has no body, so order is visible)."""
        server = self.start()
        methods = ["GET" if i % 2 == 0 else "HEAD" for i in range(32)]
        payload = b"".join(f"{m} /{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i, m in enumerate(methods))
        payload += get(extra="Connection: close\r\n")
        with server.connect() as sock:
            sock.sendall(payload)
            data = recv_until_close(sock)
        # split_responses can't know HEAD has no body, so parse by hand.
        bodies = []
        for method in methods:
            head, data = data.split(b"\r\n\r\n", 1)
            self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
            if method == "GET":
                bodies.append(data[:14])
                data = data[14:]
            else:
                bodies.append(b"")
        self.assertEqual(bodies, [b"Hello, World!\n" if m == "GET" else b"" for m in methods])
        self.assertEqual(len(split_responses(data)), 1)

    def test_one_write_per_read(self):
        """The responses to all requests that arrived in one read leave in one write
        (not one write each). Observed with strace on the running server: every
        write-family syscall carrying responses is counted against the reads that
        brought requests in. strace sees the real syscalls, unlike any timing of
        recv() on the client side, which cannot tell one write from sixteen."""
        server = self.start()
        trace = self.trace(server, "read,readv,recvfrom,recvmsg,write,writev,sendmsg,sendto",
                           string_size=24)
        count = 16
        with server.connect() as sock:
            # Warm-up request: the trace must be live for this connection's I/O.
            sock.sendall(get("/warm-up"))
            read_response(sock)
            wait_for(lambda: "GET /warm-up" in trace.text(),
                     what="strace to record the warm-up read")
            sock.sendall(b"".join(get(f"/p{i}") for i in range(count)))
            data = b""
            while data.count(b"HTTP/1.1 200") < count:
                chunk = sock.recv(1 << 20)
                self.assertTrue(chunk, "server closed early")
                data += chunk
        write_pattern = r'\b(?:write|writev|sendmsg|sendto)\(\d+, .*?HTTP/1\.1 200.*= (\d+)'
        # The client has every byte once the kernel has them, which can be
        # before strace wrote the writev's result: wait for that line.
        wait_for(lambda: sum(map(int, re.findall(write_pattern, trace.text())[1:]))
                 >= len(data), what="strace to record the writes")
        trace.detach()
        text = trace.text()
        reads = re.findall(r'\b(?:read|readv|recvfrom|recvmsg)\(\d+, .*?"GET /p.*= (\d+)', text)
        writes = re.findall(write_pattern, text)
        writes = writes[1:]  # the first one answered the warm-up request
        self.assertGreaterEqual(len(reads), 1, text)
        self.assertEqual(sum(map(int, writes)), len(data), text)
        self.assertEqual(len(writes), len(reads),
                         f"{count} pipelined requests in {len(reads)} read(s) went out in "
                         f"{len(writes)} write(s):\n{text}")

    def test_many_pipelined_requests_split_across_reads(self):
        """2000 pipelined requests (bigger than one read) are all answered, in order."""
        server = self.start()
        count = 2000
        with server.connect(timeout=10) as sock:
            sock.sendall(get() * (count - 1) + get(extra="Connection: close\r\n"))
            responses = split_responses(recv_until_close(sock))
        self.assertEqual(len(responses), count)
        self.assertTrue(all(status == 200 for status, _, _ in responses))
        self.assertEqual(responses[-1][1].get("connection"), "close")


    def test_requests_parked_behind_unread_output_are_answered_once_it_drains(self):
        """2,000 pipelined requests, alternately for a 10 KB and a 14-byte
        body, from a client with a 4 KiB receive buffer: hellod stops taking
        requests once the output the client has not read passes its bound,
        keeps the rest of what it read parked, and answers it as the output
        drains. Every response arrives, in order, and then the close. Three
        connections, since where a read ends decides whether any request is
        parked (a build that dropped parked requests failed 5 runs in 6 with
        one connection)."""
        server = self.start('routes:\n  - match: {path: /ten}\n'
                            '    response: {body: "%s"}\n' % ("t" * 10000))
        requests = 2000
        payload = b"".join(get("/ten" if i % 2 == 0 else "/") for i in range(requests - 1))
        payload += get(extra="Connection: close\r\n")
        expected = [b"t" * 10000 if i % 2 == 0 else b"Hello, World!\n" for i in range(requests - 1)]
        for _ in range(3):
            with socket.socket() as sock:
                # Before connect: a buffer shrunk after the handshake leaves
                # the window the peer was promised larger than the buffer.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(10)
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(payload)
                responses = split_responses(recv_until_close(sock, limit=1 << 26))
            self.assertEqual(len(responses), requests)
            self.assertEqual([body for _, _, body in responses[:-1]], expected)
            self.assertEqual(responses[-1][1].get("connection"), "close")

class RequestBodyTest(HellodTestCase):
    def setUp(self):
        self.server = self.start()

    def test_bodies_are_discarded_and_next_request_answered(self):
        """A Content-Length body and a chunked body (with extensions and trailers),
        pipelined with a GET: three responses, nothing parsed from the bodies."""
        payload = (b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789"
                   b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: yes\r\n\r\n"
                   b"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        with self.server.connect() as sock:
            sock.sendall(payload)
            responses = split_responses(recv_until_close(sock))
        self.assertEqual([s for s, _, _ in responses], [200, 200, 200])
        self.assertEqual(responses[-1][1].get("connection"), "close")

    def test_a_request_inside_a_body_is_not_answered(self):
        """Request-shaped bytes inside a Content-Length body or a chunk are body, not requests."""
        inner = b"GET /inner HTTP/1.1\r\nHost: t\r\n\r\n"
        payload = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(inner) + inner
                   + b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n"
                   + get(extra="Connection: close\r\n"))
        with self.server.connect() as sock:
            sock.sendall(payload)
            responses = split_responses(recv_until_close(sock))
        self.assertEqual(len(responses), 3)

    def test_body_sent_slowly_in_pieces(self):
        """A body that arrives in several reads is still consumed exactly."""
        with self.server.connect() as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 30000\r\n\r\n")
            for _ in range(3):
                sock.sendall(b"x" * 10000)
                time.sleep(0.02)  # separate segments, so separate reads
            status, _, _, extra = read_response(sock)
            self.assertEqual((status, extra), (200, b""))
            sock.sendall(get())
            self.assertEqual(read_response(sock)[0], 200)


if __name__ == "__main__":
    unittest.main()
