# SPDX-License-Identifier: MIT
"""Malformed requests: everything llhttp rejects and what hellod checks
itself (RFC 9112). Every case must get exactly one error response with
Connection: close, then a close, and the server must go on serving."""

import socket
import time
import unittest

from hellod_harness import (Hellod, HellodTestCase, exchange, read_response, recv_until_close,
                            split_responses)

HOST = b"Host: t\r\n"

# name -> (raw request, expected status)
LLHTTP_REJECTS = {
    "content_length_and_transfer_encoding":
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "two_different_content_lengths":
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    "negative_content_length":
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    "transfer_encoding_not_ending_in_chunked":
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    "bad_chunk_size":
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    "chunk_size_overflow":
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
    "bare_lf_line_ends":
        (b"GET / HTTP/1.1\nHost: t\n\n", 400),
    "bare_lf_after_a_header":
        (b"GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400),
    "nul_in_target":
        (b"GET /\x00 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "nul_in_header_value":
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
    "invalid_method_character":
        (b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "binary_garbage":
        (bytes(range(256)), 400),
    "bare_cr_line_end":
        (b"GET / HTTP/1.1\rHost: t\r\n\r\n", 400),
    "http_1_2":
        (b"GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505),
}

HELLOD_CHECKS = {
    "http11_without_host":
        (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two_host_headers":
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "two_host_headers_differently_cased":
        (b"GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n", 400),
    "obs_fold_continuation_line":
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n  b\r\n\r\n", 400),
    "obs_fold_with_tab":
        (b"GET / HTTP/1.1\r\nX-Folded: a\r\n\tb\r\nHost: t\r\n\r\n", 400),
    "whitespace_before_colon":
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Foo : a\r\n\r\n", 400),
    "whitespace_before_colon_of_host":
        (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    "http_2_0":
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    "http_3_0":
        (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
    "http_0_9_request_line_with_headers":
        (b"GET /\r\nHost: t\r\n\r\n", 400),
}

# Request framing RFC 9112 does not define (§6, §7.1), from request-smuggling
# corpora: one error, a close, and never a response to bytes hidden inside.
CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
HIDDEN = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
FRAMING = {
    "bytes_after_chunk_data_are_not_crlf":
        (CHUNKED + b"1c\r\n" + HIDDEN + b"XX0\r\n\r\n", 400),
    "cr_plus_any_byte_ends_a_chunk_line":
        (CHUNKED + b"2\rXXX\r\n0\r\n\r\n" + HIDDEN, 400),
    "header_block_ended_by_cr_and_a_byte_before_a_body":
        (b"POST / HTTP/1.1\r\nHost: x\r\nFoo: bar\r\n\rTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n" + HIDDEN, 400),
    "empty_transfer_encoding_beside_content_length":
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc", 400),
    "empty_transfer_encoding_alone":
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n", 400),
    "gzip_then_chunked":
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    "two_transfer_encoding_fields":
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    "transfer_encoding_in_http10":
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "version_that_is_not_digit_dot_digit":
        (b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400),
    "version_with_two_digit_minor":
        (b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400),
    "expectation_other_than_100_continue":
        (b"POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\na", 417),
    "whitespace_only_obs_fold_line":
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n \r\n\r\n", 400),
}


class MalformedTest(HellodTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Hellod("")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def assert_one_error_then_close(self, payload, status):
        data = self.exchange_until_close(payload)
        responses = split_responses(data)
        self.assertEqual([s for s, _, _ in responses], [status], data)
        self.assertEqual(responses[0][1].get("connection"), "close")
        self.assertEqual(responses[0][1].get("server"), "hellod")
        self.assert_still_serving()

    def exchange_until_close(self, payload, timeout=3.0):
        """Sends payload, returns every byte until the server closes; fails
        (instead of erroring) when it does not close within timeout."""
        data = b""
        with self.server.connect(timeout=timeout) as sock:
            sock.sendall(payload)
            data = recv_until_close(sock)
        return data

    def assert_still_serving(self):
        self.assertIsNone(self.server.proc.poll(), "hellod died")
        data = exchange(self.server.port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertEqual([s for s, _, _ in split_responses(data)], [200])

    def test_what_llhttp_rejects(self):
        """Each shape llhttp rejects gets one 400 (505 for HTTP/1.2), Connection: close, a close."""
        for name, (payload, status) in LLHTTP_REJECTS.items():
            with self.subTest(name):
                self.assert_one_error_then_close(payload, status)

    def test_what_hellod_checks_itself(self):
        """Shapes llhttp 8.1 lets through but RFC 9112 forbids: Host count,
        obs-fold, whitespace before a colon, versions other than 1.0/1.1."""
        for name, (payload, status) in HELLOD_CHECKS.items():
            with self.subTest(name):
                self.assert_one_error_then_close(payload, status)

    def test_framing_rfc_9112_does_not_define(self):
        """Smuggling shapes: one 400 (501 for an unimplemented transfer coding,
        417 for an unknown expectation), a close, no response to a hidden request."""
        for name, (payload, status) in FRAMING.items():
            with self.subTest(name):
                self.assert_one_error_then_close(payload, status)

    def test_declared_body_over_the_limit_gets_413_at_once(self):
        """A chunk size or Content-Length above max_body_bytes (1 MiB here) is
        answered 413 as soon as it is read, without waiting for the bytes."""
        for name, head in {
            "chunk_size": CHUNKED + b"200000\r\n",
            "content_length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
        }.items():
            with self.subTest(name), self.server.connect(timeout=3) as sock:
                sock.sendall(head)
                self.assertTrue(recv_until_close(sock).startswith(b"HTTP/1.1 413 "))

    def test_100_continue_in_any_case_is_still_continued(self):
        """Expect: 100-Continue is the one expectation defined (RFC 9110 §10.1.1)."""
        with self.server.connect(timeout=3) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
                         b"Content-Length: 1\r\n\r\n")
            self.assertEqual(sock.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(b"a")
            self.assertEqual(read_response(sock)[0], 200)

    def test_http10_without_host_is_fine(self):
        """RFC 9112 §3.2 requires Host only from HTTP/1.1 clients."""
        data = exchange(self.server.port, b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual([s for s, _, _ in split_responses(data)], [200])

    def test_http09_request_alone_is_answered_400_promptly(self):
        """A bare HTTP/0.9 request line ("GET /" CRLF, nothing more: what a 0.9
        client sends before waiting) is answered 400 at once, not left to the
        header timeout (10 s here)."""
        with self.server.connect(timeout=3) as sock:
            sock.sendall(b"GET /\r\n")
            try:
                data = sock.recv(65536)
            except socket.timeout:
                self.fail("no answer to an HTTP/0.9 request line within 3 s")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)

    def test_smuggled_request_in_body_gets_one_400_only(self):
        """CL+TE with a complete request hidden in the body: one 400, never a
        second response parsed from the body (request smuggling)."""
        hidden = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        for te_first in (False, True):
            with self.subTest(te_first=te_first):
                cl = b"Content-Length: %d\r\n" % (5 + len(hidden))
                te = b"Transfer-Encoding: chunked\r\n"
                headers = te + cl if te_first else cl + te
                data = self.exchange_until_close(
                    b"POST / HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n0\r\n\r\n" + hidden)
                self.assertEqual(data.count(b"HTTP/1.1"), 1, data)
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)

    def test_smuggled_request_with_two_content_lengths(self):
        """Two Content-Lengths whose shorter reading would expose a request: one 400 only."""
        hidden = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        data = self.exchange_until_close(
                        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden)
        self.assertEqual(data.count(b"HTTP/1.1"), 1, data)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)

    def test_error_after_good_pipelined_requests(self):
        """Good requests before a bad one are answered; the bad one gets its 400; then close."""
        payload = (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2 + b"GET / HTTP/1.1\r\n\r\n"
                   + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        data = self.exchange_until_close(payload)
        responses = split_responses(data)
        self.assertEqual([s for s, _, _ in responses], [200, 200, 400])
        self.assertEqual(responses[-1][1].get("connection"), "close")

    def test_malformed_input_sent_byte_by_byte(self):
        """The Host check holds when the request trickles in one byte per segment."""
        with self.server.connect() as sock:
            for byte in b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.001)
            status, headers, _, _ = read_response(sock)
        self.assertEqual((status, headers.get("connection")), (400, "close"))
        self.assert_still_serving()


if __name__ == "__main__":
    unittest.main()
