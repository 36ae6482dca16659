# SPDX-License-Identifier: MIT
"""A real Prometheus server (Debian's `prometheus`) scrapes hellod every
second while a bounded load runs; its query API must report the target up
and a non-zero request rate."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from hellod_harness import HellodTestCase, wait_for
from metrics_client import metrics_address

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
# The whole test is bounded: start-up, scrapes and queries.
DEADLINE = 90.0
LOAD_SECONDS = 60.0


def prometheus_config(target, path):
    return ("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: hellod\n"
            f"    metrics_path: {path}\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n")


class Load(threading.Thread):
    """Keep-alive requests on one connection until stopped or LOAD_SECONDS pass."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.requests = 0

    def run(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        end = time.monotonic() + LOAD_SECONDS
        while not self.stop.is_set() and time.monotonic() < end:
            conn.request("GET", "/")
            conn.getresponse().read()
            self.requests += 1
            time.sleep(0.002)  # a few hundred requests a second is plenty
        conn.close()


@unittest.skipUnless(os.access(PROMETHEUS, os.X_OK),
                     "needs Debian's prometheus package (scripts/install-deps.sh test)")
class PrometheusScrapeTest(HellodTestCase):
    def start_prometheus(self, target, path):
        directory = tempfile.mkdtemp(prefix="hellod-prometheus-")
        self.addCleanup(shutil.rmtree, directory, True)
        config = os.path.join(directory, "prometheus.yml")
        with open(config, "w") as f:
            f.write(prometheus_config(target, path))
        log_path = os.path.join(directory, "prometheus.log")
        log = open(log_path, "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                 f"--storage.tsdb.path={os.path.join(directory, 'data')}",
                                 "--web.listen-address=127.0.0.1:0"],
                                stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, proc)

        def listening():
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{open(log_path).read()}")
            with open(log_path) as f:
                match = re.search(r'msg="Listening on" address=([\d.]+:\d+)', f.read())
            return match.group(1) if match else None
        return wait_for(listening, 30, 0.1, "prometheus to listen")

    @staticmethod
    def stop_process(proc):
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @staticmethod
    def ready(api):
        """Prometheus answers 503 until its storage is open."""
        try:
            with urllib.request.urlopen(f"http://{api}/-/ready", timeout=10) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False

    @staticmethod
    def query(api, expression):
        url = f"http://{api}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        if answer.get("status") != "success":
            raise AssertionError(answer)
        return [float(r["value"][1]) for r in answer["data"]["result"]]

    def test_prometheus_scrapes_hellod(self):
        start = time.monotonic()
        server = self.start('metrics: {listen: ["127.0.0.1:0"], path: /stats}\nworkers: 2\n')
        host, port = metrics_address(server)
        api = self.start_prometheus(f"{host}:{port}", "/stats")
        load = Load(server.port)
        load.start()
        self.addCleanup(load.join)
        self.addCleanup(load.stop.set)
        wait_for(lambda: self.ready(api), DEADLINE - (time.monotonic() - start), 0.2,
                 "prometheus to be ready")
        remaining = DEADLINE - (time.monotonic() - start)
        up = wait_for(lambda: self.query(api, 'up{job="hellod"}') == [1.0], remaining, 0.5,
                      'up{job="hellod"} == 1')
        self.assertTrue(up)
        remaining = DEADLINE - (time.monotonic() - start)
        rates = wait_for(
            lambda: [r for r in self.query(api, "sum(rate(hellod_http_requests_total[5s]))")
                     if r > 0],
            remaining, 0.5, "a non-zero rate(hellod_http_requests_total[5s])")
        load.stop.set()
        self.assertGreater(load.requests, 0)
        print(f"\nprometheus: up == 1, request rate {rates[0]:.1f}/s after "
              f"{time.monotonic() - start:.1f} s", flush=True)


if __name__ == "__main__":
    unittest.main()
