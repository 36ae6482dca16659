# SPDX-License-Identifier: MIT
"""metrics: the Prometheus exposition on a listener of its own.

The exposition is read by real parsers (prometheus_client's text parser and
`promtool check metrics`), its counts are compared with an exact mix of
requests sent by raw sockets, and the metrics listener is checked to serve
nothing but the metrics while the public listeners serve no metrics.
"""

import signal
import socket
import unittest

from hellod_harness import (HellodTestCase, listening_socket, read_response, recv_until_close,
                            socket_activation, wait_for)
from metrics_client import (EXPOSITION_TYPE, family_names, get, metrics_address,
                            promtool_check, samples, scrape, value)

METRICS = 'metrics: {listen: ["127.0.0.1:0"]}\n'

# Every family the issue lists (hellod_connections_waiting_backlog: TCP
# listeners only, as here).
EXPECTED_FAMILIES = {
    "hellod_http_requests_total", "hellod_http_request_duration_seconds",
    "hellod_connections_open", "hellod_connections_accepted_total",
    "hellod_connections_closed_total", "hellod_connections_waiting_backlog",
    "hellod_http_received_bytes_total", "hellod_http_sent_bytes_total",
    "hellod_access_log_dropped_total", "hellod_config_reloads_total",
    "hellod_config_last_reload_successful", "hellod_config_last_reload_success_timestamp_seconds",
    "hellod_build_info", "hellod_workers", "hellod_draining", "hellod_log_lines_dropped_total",
    "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
    "process_max_fds", "process_start_time_seconds",
}

CLOSE_REASONS = ["client", "header_timeout", "keepalive_timeout", "send_timeout",
                 "keepalive_requests", "bad_request", "error", "shutdown"]


def all_closed(address):
    """A scrape's samples once no client connection is open, else None."""
    parsed = samples(scrape(address))
    return parsed if value(parsed, "hellod_connections_open") == 0 else None


class Client:
    """A raw connection that counts the bytes it sends and receives."""

    def __init__(self, server, totals):
        self.sock = server.connect(timeout=10)
        self.totals = totals
        totals["connections"] += 1

    def send(self, data):
        self.sock.sendall(data)
        self.totals["sent"] += len(data)

    def recv_until(self, marker):
        data = b""
        while marker not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before {marker!r}: {data!r}")
            data += chunk
        self.totals["received"] += len(data)
        return data

    def finish(self):
        """Reads until the server closes, then closes."""
        data = recv_until_close(self.sock)
        self.totals["received"] += len(data)
        self.sock.close()
        return data


def get_request(path="/", extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


class MetricsCountTest(HellodTestCase):
    CONFIG = (METRICS + "workers: 2\n"
              "timeouts: {header: 1s, keepalive: 1s}\n"
              "limits: {max_header_bytes: 1024, max_body_bytes: 10, keepalive_requests: 3}\n")

    def send_mix(self, server, totals):
        """The known mix; returns the statuses answered, by code."""
        # Two requests, the second says Connection: close: closed by the client's wish.
        c = Client(server, totals)
        c.send(get_request("/a") + get_request("/b", b"Connection: close\r\n"))
        self.assertEqual(c.finish().count(b"HTTP/1.1 200 OK"), 2)
        for _ in range(3):
            c = Client(server, totals)
            c.send(get_request("/c", b"Connection: close\r\n"))
            self.assertIn(b"200 OK", c.finish())
        # limits.keepalive_requests: 3 ends this one after its third.
        c = Client(server, totals)
        c.send(get_request() * 3)
        self.assertEqual(c.finish().count(b"HTTP/1.1 200 OK"), 3)
        # 400 (no Host), 413 (declared body over max_body_bytes), 431 (head over 1024).
        for request, status in [(b"GET / HTTP/1.1\r\n\r\n", b"400"),
                                (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"413"),
                                (get_request("/", b"X-Big: " + b"b" * 2000 + b"\r\n"), b"431")]:
            c = Client(server, totals)
            c.send(request)
            self.assertTrue(c.finish().startswith(b"HTTP/1.1 " + status), status)
        # 100 Continue is interim: the request counts once, as its 200.
        c = Client(server, totals)
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
               b"Connection: close\r\n\r\n")
        self.assertTrue(c.recv_until(b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue"))
        c.send(b"abc")
        self.assertIn(b"200 OK", c.finish())
        # An idle keep-alive connection, closed at timeouts.keepalive.
        c = Client(server, totals)
        c.send(get_request())
        c.recv_until(b"Hello, World!\n")
        self.assertEqual(c.finish(), b"")
        # A request head that never ends, closed at timeouts.header.
        c = Client(server, totals)
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        c.finish()
        return {200: 2 + 3 + 3 + 1 + 1, 400: 1, 413: 1, 431: 1}

    def test_counts_are_exact_after_a_known_mix(self):
        """Requests by code, durations, connections by close reason, bytes both ways, and
        reloads by result match exactly what the clients did; promtool and prometheus_client
        accept the exposition."""
        server = self.start(self.CONFIG)
        address = metrics_address(server)
        totals = {"connections": 0, "sent": 0, "received": 0}
        codes = self.send_mix(server, totals)
        self.reload(server, "workers: many\n", r"reload failed")
        parsed = samples(scrape(address))
        self.assertEqual(value(parsed, "hellod_config_reloads_total", result="failure"), 1)
        self.assertEqual(value(parsed, "hellod_config_last_reload_successful"), 0)
        self.reload(server, self.CONFIG + 'response: {body: "two"}\n', r"reloaded")
        # Every connection has ended once hellod says none is open.
        parsed = wait_for(lambda: all_closed(address), 10, what="all connections closed")
        text = scrape(address)
        for code, count in codes.items():
            self.assertEqual(value(parsed, "hellod_http_requests_total", route="default",
                                   code=str(code)), count, code)
        requests = sum(codes.values())
        self.assertEqual(sum(v for (name, _), v in parsed.items()
                             if name == "hellod_http_requests_total"), requests)
        self.assertEqual(value(parsed, "hellod_http_request_duration_seconds_count"), requests)
        self.assertEqual(value(parsed, "hellod_http_request_duration_seconds_bucket", le="+Inf"),
                         requests)
        self.assertGreater(value(parsed, "hellod_http_request_duration_seconds_sum"), 0)
        self.assertEqual(value(parsed, "hellod_connections_accepted_total"), totals["connections"])
        closed = {reason: value(parsed, "hellod_connections_closed_total", reason=reason)
                  for reason in CLOSE_REASONS}
        self.assertEqual(closed, {"client": 5, "header_timeout": 1, "keepalive_timeout": 1,
                                  "send_timeout": 0, "keepalive_requests": 1, "bad_request": 3,
                                  "error": 0, "shutdown": 0})
        self.assertEqual(value(parsed, "hellod_http_received_bytes_total"), totals["sent"])
        self.assertEqual(value(parsed, "hellod_http_sent_bytes_total"), totals["received"])
        self.assertEqual(value(parsed, "hellod_config_reloads_total", result="success"), 1)
        self.assertEqual(value(parsed, "hellod_config_reloads_total", result="failure"), 1)
        self.assertEqual(value(parsed, "hellod_config_last_reload_successful"), 1)
        self.assertEqual(value(parsed, "hellod_workers"), 2)
        self.assertEqual(value(parsed, "hellod_draining"), 0)
        self.assertEqual(value(parsed, "hellod_connections_waiting_backlog"), 0)
        self.assertEqual(value(parsed, "hellod_access_log_dropped_total"), 0)
        self.assertEqual(value(parsed, "hellod_log_lines_dropped_total"), 0)
        self.assertTrue(any(name == "hellod_build_info" and v == 1 for (name, _), v in parsed.items()))
        self.assert_valid_exposition(text)

    def reload(self, server, config, log_pattern):
        count = len(__import__("re").findall(log_pattern, server.log())) + 1
        server.write_config('listen: ["127.0.0.1:0"]\n' + config)  # the harness's: kept
        server.signal(signal.SIGHUP)
        server.wait_log(log_pattern, timeout=10, count=count)

    def assert_valid_exposition(self, text):
        missing = EXPECTED_FAMILIES - family_names(text)
        self.assertFalse(missing, text)
        code, output = promtool_check(text)
        self.assertEqual((code, output), (0, ""), text)


ROUTES = (METRICS +
          "routes:\n"
          "  - {name: health, match: {path: /healthz}, response: {body: \"ok\\n\"}}\n"
          "  - {name: api, match: {prefix: /api/}, response: {status: 201, body: \"api\\n\"}}\n"
          "health: {path: /healthz, drain: 30s}\n")


class MetricsRoutesTest(HellodTestCase):
    def test_requests_are_counted_by_route_name(self):
        """Each route counts under its name: and its status; the top-level response and
        malformed requests under route=""; a reload that renames a route keeps the old
        counts; while draining, hellod_draining is 1 and the failing health route counts
        its 503s."""
        server = self.start(ROUTES)
        address = metrics_address(server)
        # Before any request, every series the configuration can answer is there at 0, as
        # Prometheus advises for known label values: rate() and absent() see it from the start.
        parsed = samples(scrape(address))
        answerable = [("health", "200"), ("health", "503"), ("api", "201"), ("", "200"),
                      ("", "400"), ("", "408"), ("", "431")]
        self.assertEqual({cell: parsed.get(("hellod_http_requests_total",
                                            frozenset({("route", cell[0]), ("code", cell[1])})))
                          for cell in answerable}, {cell: 0 for cell in answerable})
        self.assertNotIn(("hellod_http_requests_total",
                          frozenset({("route", "api"), ("code", "503")})), parsed)
        for path, status in [("/healthz", 200), ("/api/x", 201), ("/api/y", 201), ("/other", 200)]:
            self.assertEqual(get(("127.0.0.1", server.port), path)[0], status, path)
        with server.connect(timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
            self.assertTrue(recv_until_close(sock).startswith(b"HTTP/1.1 400"))
        parsed = samples(scrape(address))
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="health", code="200"), 1)
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="api", code="201"), 2)
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="", code="200"), 1)
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="", code="400"), 1)
        # The same listen: spelling as the harness's: the socket is kept.
        server.write_config('listen: ["127.0.0.1:0"]\n' + ROUTES.replace("name: api", "name: v2"))
        server.signal(signal.SIGHUP)
        server.wait_log("reloaded", timeout=10)
        self.assertEqual(get(("127.0.0.1", server.port), "/api/z")[0], 201)
        parsed = samples(scrape(address))
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="api", code="201"), 2)
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="v2", code="201"), 1)
        self.assertEqual(value(parsed, "hellod_draining"), 0)
        server.signal(signal.SIGTERM)
        server.wait_log("draining", timeout=10)
        # The supervisor logs the drain, then tells the workers: a request
        # may still reach a worker that has not heard yet, and get its 200.
        wait_for(lambda: get(("127.0.0.1", server.port), "/healthz")[0] == 503, 10,
                 what="/healthz to fail")
        # The client has the 503 before the worker closes its connection.
        parsed = wait_for(lambda: all_closed(address), 10, what="the 503's connection closed")
        self.assertEqual(value(parsed, "hellod_draining"), 1)
        self.assertEqual(value(parsed, "hellod_http_requests_total", route="health", code="503"), 1)
        self.assertEqual(value(parsed, "hellod_connections_closed_total", reason="shutdown"), 1)
        server.signal(signal.SIGTERM)  # skip the rest of the drain


class MetricsListenerTest(HellodTestCase):
    def test_metrics_listener_serves_only_the_exposition(self):
        """GET and HEAD of the path: the exposition; another path: 404, never the configured
        response; another method: 405 with Allow; the public listener answers /metrics with
        the configured response."""
        server = self.start(METRICS + 'response: {body: "configured"}\n')
        address = metrics_address(server)
        status, headers, body = get(address, "/metrics")
        self.assertEqual((status, headers["Content-Type"]), (200, EXPOSITION_TYPE))
        self.assertIn(b"hellod_build_info", body)
        status, headers, head_body = get(address, "/metrics", method="HEAD")
        self.assertEqual((status, head_body), (200, b""))
        self.assertGreater(int(headers["Content-Length"]), 1000)
        for path in ["/", "/metrics/", "/other", "/Metrics"]:
            status, _, body = get(address, path)
            self.assertEqual(status, 404, path)
            self.assertNotIn(b"configured", body)
        status, headers, body = get(address, "/metrics", method="POST")
        self.assertEqual((status, headers["Allow"]), (405, "GET, HEAD"))
        self.assertNotIn(b"configured", body)
        with server.connect() as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body, _ = read_response(sock)
        self.assertEqual((status, body), (200, b"configured"))

    def test_keep_alive_http10_and_malformed_requests(self):
        """HTTP/1.1 keeps the connection for the next scrape; HTTP/1.0 and Connection: close
        end it; a malformed request gets 400 and a close."""
        server = self.start(METRICS)
        address = metrics_address(server)
        with socket.create_connection(address, timeout=10) as sock:
            for _ in range(3):
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
                status, headers, body, _ = read_response(sock)
                self.assertEqual(status, 200)
                self.assertNotIn("connection", headers)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
            status, headers, _, _ = read_response(sock)
            self.assertEqual(headers["connection"], "close")
            self.assertEqual(recv_until_close(sock), b"")
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            self.assertTrue(recv_until_close(sock).startswith(b"HTTP/1.1 200 OK"))
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")  # no Host
            self.assertTrue(recv_until_close(sock).startswith(b"HTTP/1.1 400 Bad Request"))

    def test_path_is_configurable(self):
        server = self.start('metrics: {listen: ["127.0.0.1:0"], path: /internal/stats}\n')
        address = metrics_address(server)
        self.assertEqual(get(address, "/internal/stats")[0], 200)
        self.assertEqual(get(address, "/metrics")[0], 404)

    def test_off_by_default(self):
        server = self.start("")
        self.assertNotIn("metrics:", server.log())

    def test_reload_adds_moves_and_removes_the_listener(self):
        """Reload adds a metrics listener, moves it to another address, changes the path,
        and removes it, like any listener."""
        server = self.start("")
        self.reload(server, METRICS, 1)
        first = metrics_address(server, 1)
        self.assertEqual(get(first)[0], 200)
        self.reload(server, 'metrics: {listen: ["127.0.0.2:0"], path: /m}\n', 2)
        second = metrics_address(server, 2)
        self.assertEqual(second[0], "127.0.0.2")
        self.assertEqual(get(second, "/m")[0], 200)
        with self.assertRaises(ConnectionRefusedError):
            get(first)
        self.reload(server, "", 3)
        with self.assertRaises(ConnectionRefusedError):
            get(second, "/m")
        self.assertEqual(server.stop(), 0)

    def reload(self, server, metrics_config, count):
        server.write_config('listen: ["127.0.0.1:0"]\n' + metrics_config)
        server.signal(signal.SIGHUP)
        server.wait_log(r"reloaded", timeout=10, count=count)

    def test_metrics_address_in_use_fails_the_start(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = self.start(f'metrics: {{listen: ["127.0.0.1:{port}"]}}\n', wait_ready=False)
            self.assertEqual(server.proc.wait(10), 1)
        self.assertRegex(server.log(), rf"cannot bind 127\.0\.0\.1:{port}: Address already in use")


class SocketActivatedMetricsTest(HellodTestCase):
    def test_socket_named_metrics_serves_the_metrics(self):
        """FileDescriptorName=metrics: that passed socket serves the exposition (and only it),
        the one named http the configured response; metrics.listen is not bound."""
        public, metrics = listening_socket(), listening_socket()
        self.addCleanup(public.close)
        self.addCleanup(metrics.close)
        addresses = public.getsockname(), metrics.getsockname()
        server = self.start('metrics: {listen: ["127.0.0.1:0"], path: /m}\n',
                            **socket_activation([public, metrics], ["http", "metrics"]))
        public.close()
        metrics.close()
        server.wait_log(rf"metrics: serving http://127\.0\.0\.1:{addresses[1][1]}/m "
                        r"\(the socket unit's \"metrics\" socket\)")
        self.assertEqual(len(__import__("re").findall("metrics: serving", server.log())), 1)
        self.assertEqual(get(addresses[1], "/m")[0], 200)
        self.assertEqual(get(addresses[1], "/")[0], 404)
        status, _, body = get(addresses[0], "/m")
        self.assertEqual((status, body), (200, b"Hello, World!\n"))


if __name__ == "__main__":
    unittest.main()
