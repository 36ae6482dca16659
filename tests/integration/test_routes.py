# SPDX-License-Identifier: MIT
"""Routes (issue 10) on the wire: every matching rule, the precedence, the
top-level response for unmatched requests, HEAD and the Connection rules on
routes, route responses, and templating. Each route answers with its own
name as the body, so a response says which route matched. The real binary,
real sockets, and real clients (curl, http.client, raw bytes)."""

import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from hellod_harness import (HELLOD, Hellod, HellodTestCase, assert_no_sanitizer_reports, exchange,
                            split_responses)

# Routes in file order; none is shadowed by an earlier one (--check-config
# would refuse the file), but many overlap, so the order decides.
MATCHING = r"""
response: {status: 404, body: "default\n", headers: {X-Route: none}}
routes:
  - {name: root, match: {path: /}, response: {body: "root\n"}}
  - {name: exact, match: {path: /exact}, response: {body: "exact\n"}}
  - {name: prefix, match: {prefix: /api/}, response: {body: "prefix\n"}}
  - {name: get-x, match: {prefix: /x/, methods: [GET]}, response: {body: "get-x\n"}}
  - {name: x-y, match: {prefix: /x/y/}, response: {body: "x-y\n"}}
  - {name: e-host-a, match: {path: /e, host: a.test}, response: {body: "e-host-a\n"}}
  - {name: e-post, match: {prefix: /e, methods: [POST]}, response: {body: "e-post\n"}}
  - {name: e-any, match: {path: /e}, response: {body: "e-any\n"}}
  - {name: exact-host, match: {prefix: /h/, host: example.com}, response: {body: "exact-host\n"}}
  - {name: wild-host, match: {prefix: /h/, host: "*.example.com"}, response: {body: "wild-host\n"}}
  - {name: ipv6-host, match: {prefix: /h/, host: "[::1]"}, response: {body: "ipv6-host\n"}}
  - {name: vhost-a, match: {path: /v, host: a.test}, response: {body: "vhost-a\n"}}
  - {name: vhost-b, match: {path: /v, host: B.Test}, response: {body: "vhost-b\n"}}
  - {name: methods, match: {path: /m, methods: [POST, PUT]}, response: {body: "methods\n"}}
  - {name: only-methods, match: {methods: [DELETE]}, response: {body: "only-methods\n"}}
  - {name: only-host, match: {host: only.test}, response: {body: "only-host\n"}}
  - {name: options-prefix, match: {prefix: /, methods: [OPTIONS]}, response: {body: "options-prefix\n"}}
  - {name: no-path, match: {methods: [OPTIONS, CONNECT]}, response: {body: "no-path\n"}}
"""


def request(method="GET", target="/", host="t", version="HTTP/1.1", headers=()):
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class RoutesTestCase(HellodTestCase):
    def ask(self, server, raw):
        """Sends one raw request on a new connection: (status, headers, body)."""
        responses = split_responses(exchange(server.port, raw, shut_write=True))
        self.assertEqual(len(responses), 1, responses)
        return responses[0]

    def route(self, server, method="GET", target="/", host="t", version="HTTP/1.1"):
        """Which route answered: its body without the newline."""
        _, _, body = self.ask(server, request(method, target, host, version))
        return body.decode().rstrip("\n")

    def temp_dir(self):
        """A directory any user may read (body_file), removed after the test."""
        path = tempfile.mkdtemp(prefix="hellod-routes-")
        self.addCleanup(shutil.rmtree, path, True)
        os.chmod(path, 0o755)
        return path

    def curl(self, server, *args):
        """curl -s -i ARGS against the server; returns the raw output."""
        result = subprocess.run(["curl", "-s", "-i", "--max-time", "10", *args],
                                capture_output=True, timeout=20, check=True)
        return result.stdout


class MatchingTest(RoutesTestCase):
    """One server with MATCHING for the whole class: it is only read from."""

    @classmethod
    def setUpClass(cls):
        cls.shared = Hellod(MATCHING)

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.shared.stop()
            if code != 0:
                raise AssertionError(f"hellod exited {code}:\n{cls.shared.log()}")
        finally:
            cls.shared.close()
        assert_no_sanitizer_reports(cls.shared)

    def server(self):
        self.assertIsNone(self.shared.proc.poll(), self.shared.log())
        return self.shared

    def assert_routes(self, cases):
        server = self.server()
        for args, expected in cases:
            with self.subTest(request=args):
                self.assertEqual(self.route(server, *args), expected)

    def test_exact_path(self):
        self.assert_routes([
            (("GET", "/exact"), "exact"),
            (("GET", "/"), "root"),
            (("GET", "/exact/"), "default"),
            (("GET", "/exac"), "default"),
            (("GET", "/exactly"), "default"),
        ])

    def test_prefix(self):
        self.assert_routes([
            (("GET", "/api/"), "prefix"),
            (("GET", "/api/v1/x"), "prefix"),
            (("GET", "/api"), "default"),
            (("GET", "/apiv1"), "default"),
        ])

    def test_path_before_the_query_compared_byte_for_byte(self):
        self.assert_routes([
            (("GET", "/exact?x=1"), "exact"),
            (("GET", "/exact?"), "exact"),
            (("GET", "/?exact"), "root"),
            (("GET", "/api/?q=/x"), "prefix"),
            (("GET", "/api?/"), "default"),
            # No case folding, no percent-decoding, no dot-segment removal.
            (("GET", "/EXACT"), "default"),
            (("GET", "/%65xact"), "default"),
            (("GET", "/./exact"), "default"),
            (("GET", "//exact"), "default"),
            (("GET", "/api/%2e%2e/exact"), "prefix"),
        ])

    def test_absolute_form_targets_use_their_path(self):
        """RFC 9112 section 3.2.2: the path of an absolute-form target."""
        self.assert_routes([
            (("GET", "http://t/exact"), "exact"),
            (("GET", "http://t/exact?x"), "exact"),
            (("GET", "http://t:8080/api/v1"), "prefix"),
            (("GET", "HTTP://t/exact"), "exact"),
            (("GET", "https://t/exact"), "exact"),
            (("GET", "http://t"), "root"),  # an empty path is "/" (RFC 9110 section 4.2.3)
            (("GET", "http://t?x"), "root"),
            (("GET", "http://t/exactly"), "default"),
        ])

    def test_absolute_form_targets_use_their_host(self):
        """RFC 9112 section 3.3: with an absolute-form target, the target URI is
        the request-target, so its authority names the host, not the Host
        header (which section 3.2.2 says to ignore)."""
        self.assert_routes([
            (("GET", "http://www.example.com/h/1", "other.test"), "wild-host"),
            (("GET", "http://Example.COM:8080/h/1", "www.example.com"), "exact-host"),
            (("GET", "http://other.test/h/1", "www.example.com"), "default"),
            (("GET", "http://[::1]:80/h/1", "example.com"), "ipv6-host"),
            (("GET", "http://user@a.test/v", "b.test"), "vhost-a"),
        ])

    def test_asterisk_and_authority_forms_match_only_routes_without_a_path(self):
        """OPTIONS * has no path: prefix "/" (options-prefix) does not take it,
        the route without path or prefix (no-path) does; CONNECT's authority
        form likewise."""
        self.assert_routes([
            (("OPTIONS", "*"), "no-path"),
            (("OPTIONS", "/anything"), "options-prefix"),
            (("OPTIONS", "/exact"), "exact"),
            (("CONNECT", "example.org:443", "example.org:443"), "no-path"),
        ])

    def test_no_path_matches_any_path(self):
        self.assert_routes([
            (("DELETE", "/nowhere"), "only-methods"),
            (("DELETE", "/x/y/z"), "x-y"),  # x-y comes first and has no method filter
            (("GET", "/nowhere", "only.test"), "only-host"),
            (("GET", "/", "only.test"), "root"),
        ])

    def test_host_without_port_case_insensitive(self):
        self.assert_routes([
            (("GET", "/h/1", "example.com"), "exact-host"),
            (("GET", "/h/1", "Example.COM"), "exact-host"),
            (("GET", "/h/1", "example.com:8080"), "exact-host"),
            (("GET", "/h/1", "EXAMPLE.com.:80"), "exact-host"),  # trailing dot: an absolute name
            (("GET", "/h/1", "[::1]:8080"), "ipv6-host"),
            (("GET", "/h/1", "[::1]"), "ipv6-host"),
            (("GET", "/v", "a.test"), "vhost-a"),
            (("GET", "/v", "b.test:1"), "vhost-b"),
            (("GET", "/v", "c.test"), "default"),
            (("GET", "/h/1", "example.org"), "default"),
            (("GET", "/h/1", "example.com.evil"), "default"),
        ])

    def test_wildcard_host_matches_subdomains_not_the_apex(self):
        self.assert_routes([
            (("GET", "/h/1", "www.example.com"), "wild-host"),
            (("GET", "/h/1", "b.a.EXAMPLE.com:443"), "wild-host"),
            (("GET", "/h/1", "xexample.com"), "default"),
            (("GET", "/h/1", "example.com"), "exact-host"),  # the apex: not the wildcard
        ])

    def test_apex_alone_is_not_matched_by_a_wildcard(self):
        server = self.start('routes: [{match: {host: "*.example.com"}, response: {body: "w\\n"}}]\n')
        self.assertEqual(self.route(server, "GET", "/", "www.example.com"), "w")
        self.assertEqual(self.route(server, "GET", "/", "example.com"), "Hello, World!")
        self.assertEqual(self.route(server, "GET", "/", ".example.com"), "Hello, World!")

    def test_request_without_host_matches_only_routes_without_a_host(self):
        self.assert_routes([
            (("GET", "/h/1", None, "HTTP/1.0"), "default"),
            (("GET", "/nowhere", None, "HTTP/1.0"), "default"),
            (("GET", "/exact", None, "HTTP/1.0"), "exact"),
        ])

    def test_methods_list_and_absent_means_all(self):
        self.assert_routes([
            (("POST", "/m"), "methods"),
            (("PUT", "/m"), "methods"),
            (("GET", "/m"), "default"),
            (("PATCH", "/exact"), "exact"),
            (("PROPFIND", "/exact"), "exact"),
        ])
        # HEAD is not in the list either: the top-level response's 404.
        self.assertEqual(self.ask(self.server(), request("HEAD", "/m"))[0], 404)

    def test_first_match_in_file_order(self):
        self.assert_routes([
            # A shorter prefix earlier wins over a longer one later.
            (("GET", "/x/y/z"), "get-x"),
            (("POST", "/x/y/z"), "x-y"),
            (("POST", "/x/z"), "default"),
            # An exact path, a prefix with a method filter, the same exact
            # path without filters: each answers when the earlier ones do not.
            (("GET", "/e", "a.test"), "e-host-a"),
            (("POST", "/e", "a.test"), "e-host-a"),
            (("POST", "/e", "b.test"), "e-post"),
            (("GET", "/e", "b.test"), "e-any"),
            (("POST", "/ex"), "e-post"),
        ])

    def test_prefix_route_before_an_exact_one_answers_for_it(self):
        server = self.start(r"""
routes:
  - {name: beta, match: {prefix: /api/, host: beta.test}, response: {body: "beta\n"}}
  - {name: v1, match: {path: /api/v1}, response: {body: "v1\n"}}
""")
        self.assertEqual(self.route(server, "GET", "/api/v1", "beta.test"), "beta")
        self.assertEqual(self.route(server, "GET", "/api/v1", "other.test"), "v1")

    def test_curl_and_http_client_see_the_same_routing(self):
        server = self.server()
        out = self.curl(server, "-H", "Host: www.example.com", f"http://127.0.0.1:{server.port}/h/x")
        self.assertTrue(out.endswith(b"\r\n\r\nwild-host\n"), out)
        out = self.curl(server, "-X", "POST", f"http://127.0.0.1:{server.port}/m")
        self.assertTrue(out.endswith(b"\r\n\r\nmethods\n"), out)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        self.addCleanup(conn.close)
        for target, expected in (("/exact?q=1", b"exact\n"), ("/api/x", b"prefix\n"),
                                 ("/nowhere", b"default\n")):
            conn.request("GET", target)
            self.assertEqual(conn.getresponse().read(), expected)


class ResponsesTest(RoutesTestCase):
    def test_unmatched_requests_get_the_top_level_response(self):
        server = self.start(r"""
response:
  status: 418
  content_type: "application/json"
  body: "{\"route\": null}\n"
  headers: {X-Top: yes, Cache-Control: no-store}
routes:
  - {match: {path: /r}, response: {body: "r\n"}}
""")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("GET", "/nowhere")
        reply = conn.getresponse()
        self.assertEqual((reply.status, reply.reason), (418, "I'm a teapot"))
        self.assertEqual(reply.read(), b'{"route": null}\n')
        self.assertEqual(reply.getheader("Content-Type"), "application/json")
        self.assertEqual(reply.getheader("X-Top"), "yes")
        self.assertEqual(reply.getheader("Cache-Control"), "no-store")
        conn.request("GET", "/r")  # same connection: a route, with its own defaults
        reply = conn.getresponse()
        self.assertEqual((reply.status, reply.read()), (200, b"r\n"))
        self.assertEqual(reply.getheader("Content-Type"), "text/plain; charset=utf-8")
        self.assertIsNone(reply.getheader("X-Top"))

    def test_route_response_status_content_type_body_file_headers(self):
        page = os.path.join(self.temp_dir(), "maintenance.html")
        with open(page, "wb") as f:
            f.write(b"<h1>back soon</h1>\n" * 100)
        server = self.start(f"""
routes:
  - match: {{prefix: /api/, methods: [GET, HEAD], host: "*.example.com"}}
    response:
      status: 503
      content_type: "text/html; charset=utf-8"
      body_file: {page}
      headers: {{Retry-After: "120", Cache-Control: no-store}}
""")
        out = self.curl(server, "-H", "Host: api.example.com",
                        f"http://127.0.0.1:{server.port}/api/v1")
        head, body = out.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 503 Service Unavailable")
        self.assertIn("Content-Type: text/html; charset=utf-8", lines)
        self.assertIn("Retry-After: 120", lines)
        self.assertIn("Cache-Control: no-store", lines)
        self.assertIn(f"Content-Length: {19 * 100}", lines)
        self.assertEqual(body, b"<h1>back soon</h1>\n" * 100)
        # Any other host gets the default response.
        out = self.curl(server, "-H", "Host: example.com", f"http://127.0.0.1:{server.port}/api/v1")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out)
        self.assertTrue(out.endswith(b"\r\n\r\nHello, World!\n"), out)

    def test_head_on_routes(self):
        """HEAD: the same headers as GET, Content-Length of the route's body, no body."""
        server = self.start(r"""
response: {status: 404, body: "no route here\n"}
routes:
  - {match: {path: /a}, response: {status: 201, body: "route a body\n", headers: {X-A: "1"}}}
  - {match: {prefix: /b/, methods: [GET, HEAD]}, response: {body: "bbbbbbbb\n"}}
  - {match: {prefix: /c/, methods: [GET]}, response: {body: "only get\n"}}
""")
        for target, status, length in (("/a", 201, 13), ("/b/x", 200, 9), ("/none", 404, 14)):
            with self.subTest(target=target):
                with server.connect() as sock:
                    sock.sendall(request("GET", target) + request("HEAD", target) +
                                 request("GET", target, headers=["Connection: close"]))
                    data = b""
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                get_head, rest = data.split(b"\r\n\r\n", 1)
                get_body, rest = rest[:length], rest[length:]
                head_head, rest = rest.split(b"\r\n\r\n", 1)
                # The HEAD response has no body: the next response follows at once.
                self.assertTrue(rest.startswith(b"HTTP/1.1 "), rest[:40])
                without_date = [line for line in get_head.split(b"\r\n")
                                if not line.startswith(b"Date: ")]
                self.assertEqual(without_date, [line for line in head_head.split(b"\r\n")
                                                if not line.startswith(b"Date: ")])
                self.assertTrue(get_head.startswith(f"HTTP/1.1 {status} ".encode()), get_head)
                self.assertIn(f"\r\nContent-Length: {length}\r\n".encode(), get_head + b"\r\n")
                self.assertEqual(len(get_body), length)
        # GET does not imply HEAD: a GET-only route leaves HEAD to the default.
        responses = split_responses(exchange(server.port, request("GET", "/c/x") + request(
            "HEAD", "/c/x", headers=["Connection: close"])))
        self.assertEqual([(s, h["content-length"], b) for s, h, b in responses],
                         [(200, "9", b"only get\n"), (404, "14", b"")])
        # curl -I: HEAD as a client sends it.
        out = self.curl(server, "-I", f"http://127.0.0.1:{server.port}/a")
        self.assertIn(b"Content-Length: 13\r\n", out)
        self.assertIn(b"X-A: 1\r\n", out)
        self.assertTrue(out.endswith(b"\r\n\r\n"), out)

    def test_connection_rules_on_routes(self):
        server = self.start(r"""
limits: {keepalive_requests: 3}
routes:
  - {match: {path: /r}, response: {status: 202, body: "r\n"}}
""")
        cases = [
            # HTTP/1.0 with keep-alive: persistent, says so.
            (request("GET", "/r", version="HTTP/1.0", headers=["Connection: keep-alive"]) * 2 +
             request("GET", "/r", version="HTTP/1.0"),
             [(202, "keep-alive"), (202, "keep-alive"), (202, "close")]),
            # HTTP/1.0 without: the first response closes.
            (request("GET", "/r", version="HTTP/1.0") * 2, [(202, "close")]),
            # Connection: close on HTTP/1.1.
            (request("GET", "/r") + request("GET", "/r", headers=["Connection: close"]) +
             request("GET", "/r"), [(202, None), (202, "close")]),
            # keepalive_requests: 3, the third says close, the fourth is not read.
            (request("GET", "/r") * 2 + request("GET", "/nowhere") + request("GET", "/r"),
             [(202, None), (202, None), (200, "close")]),
        ]
        for raw, expected in cases:
            with self.subTest(raw=raw[:60]):
                responses = split_responses(exchange(server.port, raw))
                self.assertEqual([(s, h.get("connection")) for s, h, _ in responses], expected)


class TemplateTest(RoutesTestCase):
    def test_templates_observed_on_the_wire(self):
        version = subprocess.run([HELLOD, "-V"], capture_output=True, text=True,
                                 check=True).stdout.split()[-1]
        body_dir = self.temp_dir()
        body_file = os.path.join(body_dir, "page.txt")
        with open(body_file, "w") as f:
            f.write("file from ${env:HELLOD_TEST_COLOUR} on ${hostname}\n")
        server = self.start(f"""
response:
  template: true
  body: "top ${{version}}\\n"
routes:
  - match: {{path: /t}}
    response:
      template: true
      body: "${{hostname}} ${{version}} ${{env:HELLOD_TEST_COLOUR}} $${{hostname}} $$ $x\\n"
      headers: {{X-Backend: "${{env:HELLOD_TEST_COLOUR}}-${{hostname}}"}}
  - match: {{path: /f}}
    response: {{template: true, body_file: {body_file}}}
  - match: {{path: /raw}}
    response: {{body: "${{hostname}}\\n", headers: {{X-Raw: "${{version}}"}}}}
""", env={"HELLOD_TEST_COLOUR": "blue"})
        host = socket.gethostname()
        status, headers, body = self.ask(server, request("GET", "/t"))
        self.assertEqual(body.decode(), f"{host} {version} blue ${{hostname}} $$ $x\n")
        self.assertEqual(headers["x-backend"], f"blue-{host}")
        self.assertEqual(headers["content-length"], str(len(body)))
        self.assertEqual(self.ask(server, request("GET", "/f"))[2].decode(),
                         f"file from blue on {host}\n")
        self.assertEqual(self.ask(server, request("GET", "/other"))[2].decode(), f"top {version}\n")
        # Without template: true nothing is substituted.
        status, headers, body = self.ask(server, request("GET", "/raw"))
        self.assertEqual((body, headers["x-raw"]), (b"${hostname}\n", "${version}"))


if __name__ == "__main__":
    unittest.main()
