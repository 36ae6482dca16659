# SPDX-License-Identifier: MIT
"""limits.max_header_bytes (431, 414), limits.max_body_bytes (413, for
Content-Length and chunked bodies) and limits.max_connections (the next
connection waits in the kernel backlog until one closes)."""

import select
import unittest

from hellod_harness import HellodTestCase, read_response, recv_until_close, split_responses


def request_with_headers(header_bytes, host=b"t"):
    """A GET whose header block (request line to the blank line) is about header_bytes long."""
    head = b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n"
    filler = max(0, header_bytes - len(head) - len(b"X-Fill: \r\n\r\n"))
    return head + b"X-Fill: " + b"f" * filler + b"\r\n\r\n"


class HeaderLimitTest(HellodTestCase):
    def setUp(self):
        self.server = self.start("limits: {max_header_bytes: 1024}\n")

    def statuses(self, payload, chunks=1):
        with self.server.connect() as sock:
            step = -(-len(payload) // chunks)
            for i in range(0, len(payload), step):
                sock.sendall(payload[i:i + step])
            responses = split_responses(recv_until_close(sock))
        return responses

    def assert_rejected(self, payload, status, chunks=1):
        responses = self.statuses(payload, chunks)
        self.assertEqual([s for s, _, _ in responses], [status])
        self.assertEqual(responses[0][1].get("connection"), "close")
        self.assert_still_serving()

    def assert_still_serving(self):
        with self.server.connect() as sock:
            sock.sendall(request_with_headers(900))
            self.assertEqual(read_response(sock)[0], 200)

    def test_headers_under_the_limit_are_served(self):
        """A 900-byte header block with a 1024-byte limit is answered 200."""
        self.assert_still_serving()

    def test_one_big_header_gets_431(self):
        """A header block of 2000 bytes (one long field) gets 431, then a close."""
        self.assert_rejected(request_with_headers(2000), 431)

    def test_many_small_headers_get_431(self):
        """100 small fields adding up over the limit get 431."""
        payload = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Small: abc\r\n" * 100 + b"\r\n"
        self.assert_rejected(payload, 431)

    def test_oversized_headers_sent_in_pieces_get_431(self):
        """The limit holds across reads: the block arrives in 10 sends."""
        self.assert_rejected(request_with_headers(3000), 431, chunks=10)

    def test_huge_header_block_is_not_buffered(self):
        """A 1 MB header block gets 431 as soon as the limit is passed; the
        server does not wait for (or store) the rest."""
        with self.server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Huge: " + b"h" * 4096)
            status, headers, _, _ = read_response(sock)
        self.assertEqual((status, headers.get("connection")), (431, "close"))

    def test_long_request_line_gets_414(self):
        """A request line alone over the limit gets 414 URI Too Long."""
        self.assert_rejected(b"GET /" + b"u" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)

    def test_long_request_line_in_pieces_gets_414(self):
        """Same, with the target trickling in over several sends."""
        self.assert_rejected(b"GET /" + b"u" * 3000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, chunks=6)

    def test_limit_applies_per_request_not_per_connection(self):
        """Ten pipelined 900-byte requests (9000 bytes in all) are all served."""
        payload = request_with_headers(900) * 9 + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        responses = self.statuses(payload)
        self.assertEqual([s for s, _, _ in responses], [200] * 10)


class BodyLimitTest(HellodTestCase):
    def setUp(self):
        self.server = self.start("limits: {max_body_bytes: 1000}\n")

    def exchange(self, payload):
        with self.server.connect() as sock:
            sock.sendall(payload)
            return split_responses(recv_until_close(sock))

    def test_content_length_at_the_limit_is_served(self):
        """A 1000-byte body with max_body_bytes 1000 is fine."""
        responses = self.exchange(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n"
                                  b"Connection: close\r\n\r\n" + b"b" * 1000)
        self.assertEqual([s for s, _, _ in responses], [200])

    def test_content_length_over_the_limit_gets_413_and_close(self):
        """Content-Length 1001 gets 413 and a close, whatever follows."""
        responses = self.exchange(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n"
                                  + b"b" * 1001 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual([s for s, _, _ in responses], [413])
        self.assertEqual(responses[0][1].get("connection"), "close")

    def test_huge_content_length_gets_413_without_waiting_for_the_body(self):
        """Content-Length of 10 GB: the 413 comes on the headers alone."""
        with self.server.connect() as sock:
            sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000\r\n\r\nstart")
            status, headers, _, _ = read_response(sock)
        self.assertEqual((status, headers.get("connection")), (413, "close"))

    def test_chunked_at_the_limit_is_served(self):
        """Chunks adding up to exactly 1000 bytes are fine."""
        body = b"".join(b"64\r\n" + b"c" * 100 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
        responses = self.exchange(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                  b"Connection: close\r\n\r\n" + body)
        self.assertEqual([s for s, _, _ in responses], [200])

    def test_chunked_over_the_limit_gets_413_and_close(self):
        """Chunks adding up to 1001 bytes get 413 and a close."""
        body = b"".join(b"64\r\n" + b"c" * 100 + b"\r\n" for _ in range(10)) + b"1\r\nX\r\n0\r\n\r\n"
        responses = self.exchange(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  + body + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual([s for s, _, _ in responses], [413])
        self.assertEqual(responses[0][1].get("connection"), "close")

    def test_limit_is_per_request(self):
        """Five pipelined 800-byte bodies (4000 bytes on the connection) are all served."""
        one = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 800\r\n\r\n" + b"b" * 800
        responses = self.exchange(one * 5 + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertEqual([s for s, _, _ in responses], [200] * 6)


class MaxConnectionsTest(HellodTestCase):
    def test_third_connection_waits_until_one_closes(self):
        """max_connections 2: a third connection is accepted by the kernel (the
        backlog) but gets no answer until one of the first two closes; then it does."""
        server = self.start("limits: {max_connections: 2}\n")
        first, second = server.connect(), server.connect()
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        for sock in (first, second):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(read_response(sock)[0], 200)
        third = server.connect()  # completes: the kernel accepts into the backlog
        self.addCleanup(third.close)
        third.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        # Proving a negative takes a wait: half a second without an answer.
        readable, _, _ = select.select([third], [], [], 0.5)
        self.assertEqual(readable, [], "the third connection was served while two were open")
        first.close()
        third.settimeout(3)
        self.assertEqual(read_response(third)[0], 200)
        # The two open connections (second, third) still both work.
        second.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(second)[0], 200)

    def test_idle_connections_count(self):
        """Connections that sent nothing yet count toward the limit too."""
        server = self.start("limits: {max_connections: 1}\n")
        idle = server.connect()
        self.addCleanup(idle.close)
        # Make sure the idle one is accepted first: a served request on it proves that.
        idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        read_response(idle)
        waiting = server.connect()
        self.addCleanup(waiting.close)
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(select.select([waiting], [], [], 0.5)[0], [])
        idle.close()
        waiting.settimeout(3)
        self.assertEqual(read_response(waiting)[0], 200)


if __name__ == "__main__":
    unittest.main()
