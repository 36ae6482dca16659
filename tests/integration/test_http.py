# SPDX-License-Identifier: MIT
"""What an HTTP client sees: curl, Python's http.client, the exact response
headers, configured status, headers and body_file, the access log, and the
unix-socket and IPv6 listeners."""

import email.utils
import http.client
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from hellod_harness import HellodTestCase, read_response, recv_until_close, wait_for

GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def head_lines(raw):
    """The status line and header lines of one raw response, in order."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    return head.split("\r\n")


class CurlTest(HellodTestCase):
    def test_two_urls_in_one_curl_call_share_one_connection(self):
        """curl reuses the connection for its second URL: HTTP/1.1 persistence works."""
        server = self.start()
        result = subprocess.run(["curl", "-sv", server.url + "a", server.url + "b"],
                                capture_output=True, text=True, timeout=10, check=True)
        self.assertEqual(result.stdout, "Hello, World!\n" * 2)
        self.assertIn("Re-using existing connection", result.stderr)
        self.assertEqual(len(re.findall(r"Connected to ", result.stderr)), 1, result.stderr)


class HttpClientTest(HellodTestCase):
    def setUp(self):
        self.server = self.start()
        self.client = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        self.addCleanup(self.client.close)

    def request(self, method, url="/", body=None, headers=None, **kwargs):
        self.client.request(method, url, body=body, headers=headers or {}, **kwargs)
        response = self.client.getresponse()
        return response, response.read()

    def test_get(self):
        """A plain GET gets 200 OK and the default body."""
        response, body = self.request("GET", "/anything?x=1")
        self.assertEqual((response.status, response.reason), (200, "OK"))
        self.assertEqual(body, b"Hello, World!\n")
        self.assertEqual(response.getheader("Content-Length"), str(len(body)))

    def test_head_has_the_same_headers_and_no_body(self):
        """HEAD gets GET's headers (Content-Length included) and no body; the
        connection stays usable, which it would not if a body had been sent."""
        get, get_body = self.request("GET")
        head, head_body = self.request("HEAD")
        self.assertEqual(head_body, b"")
        strip_date = lambda headers: [(k, v) for k, v in headers if k != "Date"]
        self.assertEqual(strip_date(head.getheaders()), strip_date(get.getheaders()))
        self.assertEqual(head.getheader("Content-Length"), str(len(get_body)))
        again, again_body = self.request("GET")
        self.assertEqual((again.status, again_body), (200, get_body))

    def test_post_with_a_body(self):
        """A POST body is read and discarded; the answer is the configured one."""
        response, body = self.request("POST", "/form", body=b"a=1&b=2" * 100,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((response.status, body), (200, b"Hello, World!\n"))
        response, body = self.request("GET")
        self.assertEqual(response.status, 200)

    def test_chunked_body(self):
        """A chunked body (http.client's encode_chunked) is consumed; the
        connection then answers the next request."""
        chunks = iter([b"first chunk", b"x" * 5000, b"last"])
        response, body = self.request("PUT", "/upload", body=chunks,
                                      headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        self.assertEqual((response.status, body), (200, b"Hello, World!\n"))
        response, body = self.request("DELETE", "/x")
        self.assertEqual((response.status, body), (200, b"Hello, World!\n"))


class ExpectContinueTest(HellodTestCase):
    def test_a_client_waiting_for_100_continue_gets_it_then_the_response(self):
        """RFC 9110 §10.1.1: a client that sends "Expect: 100-continue" may hold
        its body until the server says 100 Continue; hellod says it at once,
        then answers the request once the body is in, on the same connection."""
        server = self.start()
        with server.connect() as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                         b"Content-Length: 5\r\n\r\n")
            interim = b""
            while b"\r\n\r\n" not in interim:
                data = sock.recv(4096)
                self.assertTrue(data, "closed before 100 Continue")
                interim += data
            self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(b"hello")
            status, headers, body, _ = read_response(sock)
            self.assertEqual((status, body), (200, b"Hello, World!\n"))
            self.assertNotIn("connection", headers)


class ResponseHeadersTest(HellodTestCase):
    def test_default_response_headers_exactly(self):
        """Status line, Server, Date, Content-Type, Content-Length, nothing else, in that order."""
        server = self.start()
        with server.connect() as sock:
            sock.sendall(GET)
            status, headers, body, _ = read_response(sock)
            sock.sendall(GET)
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += sock.recv(65536)
        lines = head_lines(raw)
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        names = [line.split(":", 1)[0] for line in lines[1:]]
        self.assertEqual(names, ["Server", "Date", "Content-Type", "Content-Length"])
        self.assertEqual(lines[1], "Server: hellod")
        self.assertEqual(lines[3], "Content-Type: text/plain; charset=utf-8")
        self.assertEqual(lines[4], "Content-Length: 14")
        self.assertEqual(body, b"Hello, World!\n")

    def test_date_is_an_imf_fixdate_close_to_now(self):
        """Date has RFC 9110 §5.6.7's IMF-fixdate form and is within a few seconds of now."""
        server = self.start()
        with server.connect() as sock:
            sock.sendall(GET)
            _, headers, _, _ = read_response(sock)
        date = headers["date"]
        self.assertRegex(date, r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                               r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                               r"\d\d:\d\d:\d\d GMT$")
        stamp = email.utils.parsedate_to_datetime(date).timestamp()
        self.assertLess(abs(stamp - time.time()), 3.0, date)

    def test_date_is_refreshed(self):
        """The Date header moves on while the server runs (refreshed by a timer)."""
        server = self.start()

        def date_now():
            with server.connect() as sock:
                sock.sendall(GET)
                return read_response(sock)[1]["date"]
        first = date_now()
        wait_for(lambda: date_now() != first, timeout=4, interval=0.2, what="Date to change")
        stamp = email.utils.parsedate_to_datetime(date_now()).timestamp()
        self.assertLess(abs(stamp - time.time()), 3.0)

    def test_configured_status_type_headers_in_order(self):
        """A 503 with its reason phrase, the configured Content-Type, body and
        extra headers, which follow the owned headers in configuration order."""
        server = self.start(
            "response:\n"
            "  status: 503\n"
            "  content_type: text/html\n"
            "  body: \"<h1>down</h1>\"\n"
            "  headers:\n"
            "    Retry-After: \"120\"\n"
            "    X-Zeta: last-letter\n"
            "    Cache-Control: no-store\n"
            "    X-Alpha: first-letter\n")
        with server.connect() as sock:
            sock.sendall(GET)
            raw = b""
            while not raw.endswith(b"<h1>down</h1>"):
                data = sock.recv(65536)
                self.assertTrue(data, raw)
                raw += data
        lines = head_lines(raw)
        self.assertEqual(lines[0], "HTTP/1.1 503 Service Unavailable")
        self.assertEqual(lines[1], "Server: hellod")
        self.assertIn("Content-Type: text/html", lines)
        self.assertIn("Content-Length: 13", lines)
        extra = [line for line in lines if line.split(":")[0] in
                 ("Retry-After", "X-Zeta", "Cache-Control", "X-Alpha")]
        self.assertEqual(extra, ["Retry-After: 120", "X-Zeta: last-letter",
                                 "Cache-Control: no-store", "X-Alpha: first-letter"])

    def test_reason_phrases(self):
        """Each configured status carries its standard reason phrase."""
        for status, reason in [(204, "No Content"), (404, "Not Found"), (418, None),
                               (500, "Internal Server Error"), (302, "Found")]:
            with self.subTest(status=status):
                server = self.start(f"response: {{status: {status}}}\n")
                with server.connect() as sock:
                    sock.sendall(GET)
                    raw = sock.recv(65536)
                line = head_lines(raw)[0]
                self.assertTrue(line.startswith(f"HTTP/1.1 {status} "), line)
                if reason:
                    self.assertEqual(line, f"HTTP/1.1 {status} {reason}")
                server.stop()

    def test_body_file(self):
        """response.body_file is served byte for byte (binary, 300 KB)."""
        directory = tempfile.mkdtemp(prefix="hellod-body-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "page.bin")
        content = bytes(range(256)) * 1200
        with open(path, "wb") as f:
            f.write(content)
        server = self.start(f"response: {{body_file: {path}, content_type: application/octet-stream}}\n")
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        self.addCleanup(client.close)
        client.request("GET", "/")
        response = client.getresponse()
        self.assertEqual(response.getheader("Content-Type"), "application/octet-stream")
        self.assertEqual(response.read(), content)


class AccessLogTest(HellodTestCase):
    def test_one_line_per_request_with_method_target_status_bytes_peer(self):
        """log.access: true logs each request as a text line: time, client address and port,
        method, target, version, status, bytes, duration, route, User-Agent, Referer."""
        server = self.start("log: {access: true}\nresponse: {status: 202}\n")
        with server.connect() as sock:
            sock.sendall(b"GET /first?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"
                         b"POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                         b"HEAD /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            raw = recv_until_close(sock)
        responses = raw.split(b"HTTP/1.1 202")[1:]
        self.assertEqual(len(responses), 3, raw)
        sizes = [len(b"HTTP/1.1 202" + r) for r in responses]
        for method, target, size in [("GET", "/first?q=1", sizes[0]), ("POST", "/second", sizes[1]),
                                     ("HEAD", "/third", sizes[2])]:
            line = server.wait_log(rf".*\"{method} {re.escape(target)} HTTP/1\.1\".*")
            self.assertRegex(line.group(0),
                             rf'^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{6}}Z 127\.0\.0\.1 \d+ '
                             rf'"{method} {re.escape(target)} HTTP/1\.1" 202 {size} \d+\.\d{{6}} '
                             rf'default - -$')
        self.assertEqual(len(re.findall(r'" 202 \d+', server.log())), 3, server.log())

    def test_no_access_log_by_default(self):
        """Without log.access, requests are not logged."""
        server = self.start()
        with server.connect() as sock:
            sock.sendall(b"GET /secret-path HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(sock)
        server.stop()
        self.assertNotIn("/secret-path", server.log())


class OtherListenersTest(HellodTestCase):
    def test_unix_socket_listener(self):
        """listen: unix:/path serves HTTP over an AF_UNIX stream socket (curl and raw)."""
        directory = tempfile.mkdtemp(prefix="hellod-unix-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "s.sock")
        server = self.start(f'listen: ["unix:{path}"]\n')
        self.assertTrue(any(path in address for address in server.addresses), server.addresses)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(GET)
            status, _, body, _ = read_response(sock)
        self.assertEqual((status, body), (200, b"Hello, World!\n"))
        result = subprocess.run(["curl", "-s", "--unix-socket", path, "http://localhost/"],
                                capture_output=True, timeout=10, check=True)
        self.assertEqual(result.stdout, b"Hello, World!\n")
        self.assertEqual(server.stop(), 0)
        self.assertFalse(os.path.exists(path), "the socket file outlived hellod")

    def test_ipv6_loopback_listener(self):
        """listen: "[::1]:0" serves over IPv6."""
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
                probe.bind(("::1", 0))
        except OSError as error:
            self.skipTest(f"::1 is not available here: {error}")
        server = self.start('listen: ["[::1]:0"]\nlog: {access: true}\n')
        self.assertRegex(server.addresses[0], r"^\[::1\]:\d+$")
        with socket.create_connection(("::1", server.port), timeout=5) as sock:
            sock.sendall(GET)
            status, _, body, _ = read_response(sock)
        self.assertEqual((status, body), (200, b"Hello, World!\n"))
        server.wait_log(r'::1 \d+ "GET / HTTP/1\.1" 200')


if __name__ == "__main__":
    unittest.main()
