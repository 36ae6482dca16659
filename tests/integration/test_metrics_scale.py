# SPDX-License-Identifier: MIT
"""A scrape does not depend on how many connections are open: with 10,000
idle client connections it takes about as long as with none, under 10 ms
(plain builds; sanitizer builds only report their figure)."""

import http.client
import resource
import socket
import statistics
import time
import unittest

from hellod_harness import SANITIZER_REPORTS, HellodTestCase, wait_for
from metrics_client import EXPOSITION_TYPE, metrics_address, samples, value

CONNECTIONS = 10_000
# The test and hellod each hold one descriptor per connection, under their
# own limits; the soft limit is raised to the hard one.
DESCRIPTORS = CONNECTIONS + 500
SCRAPES = 30
LIMIT_MS = 10.0


def raise_descriptor_limit():
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def can_raise_limit():
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard == resource.RLIM_INFINITY or hard >= DESCRIPTORS


def scrape_times_ms(address, count):
    """Wall time of each scrape on one keep-alive connection, request sent to body read."""
    conn = http.client.HTTPConnection(*address, timeout=30)
    times = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            body = response.read()
            times.append((time.perf_counter() - start) * 1000)
            if response.status != 200 or response.getheader("Content-Type") != EXPOSITION_TYPE:
                raise AssertionError(f"{response.status}: {body[:200]!r}")
    finally:
        conn.close()
    return times


@unittest.skipUnless(can_raise_limit(), f"needs a hard open-file limit of {DESCRIPTORS}")
class ScrapeScaleTest(HellodTestCase):
    def setUp(self):
        self.saved_limit = resource.getrlimit(resource.RLIMIT_NOFILE)
        raise_descriptor_limit()
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, self.saved_limit)

    def test_scrape_time_does_not_depend_on_open_connections(self):
        server = self.start('metrics: {listen: ["127.0.0.1:0"]}\n'
                            f"limits: {{max_connections: {CONNECTIONS + 100}}}\n"
                            "timeouts: {header: 10m}\n",
                            preexec_fn=raise_descriptor_limit)
        address = metrics_address(server)
        idle = statistics.median(scrape_times_ms(address, SCRAPES))
        clients = []
        try:
            for _ in range(CONNECTIONS):
                clients.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
            parsed = wait_for(lambda: self.open_at_least(address, CONNECTIONS), 60,
                              what=f"{CONNECTIONS} connections open")
            self.assertGreaterEqual(value(parsed, "process_open_fds"), CONNECTIONS)
            busy = statistics.median(scrape_times_ms(address, SCRAPES))
        finally:
            for client in clients:
                client.close()
        print(f"\nmedian scrape: {idle:.2f} ms with no client connection, {busy:.2f} ms with "
              f"{CONNECTIONS} open", flush=True)
        if not SANITIZER_REPORTS:
            self.assertLess(busy, LIMIT_MS)

    @staticmethod
    def open_at_least(address, count):
        conn = http.client.HTTPConnection(*address, timeout=30)
        try:
            conn.request("GET", "/metrics")
            parsed = samples(conn.getresponse().read().decode())
        finally:
            conn.close()
        return parsed if value(parsed, "hellod_connections_open") >= count else None


if __name__ == "__main__":
    unittest.main()
