# SPDX-License-Identifier: MIT
"""Configuration files as users write them: the documented default, several
workers, several listeners, and the accepted value forms."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from hellod_harness import HELLOD, SOURCE_DIR, HellodTestCase, read_response

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def raw_response(port, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(GET)
        data = b""
        while not data.endswith(b"Hello, World!\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def without_date(raw):
    return re.sub(rb"\r\nDate: [^\r]*", b"", raw)


class DocumentedConfigTest(HellodTestCase):
    def test_documented_config_serves_the_same_as_the_embedded_default(self):
        """config/hellod.yaml (its listen: moved to an ephemeral port) gives
        byte-for-byte the response of an empty config (the embedded default)."""
        with open(os.path.join(SOURCE_DIR, "config", "hellod.yaml")) as f:
            documented = f.read()
        documented, count = re.subn(r'^(\s*-\s*)"0\.0\.0\.0:8080"', r'\1"127.0.0.1:0"', documented, flags=re.M)
        self.assertEqual(count, 1, "config/hellod.yaml no longer listens on 0.0.0.0:8080")
        from_file = self.start(documented)
        embedded = self.start("")
        self.assertEqual(without_date(raw_response(from_file.port)), without_date(raw_response(embedded.port)))


class WorkersTest(HellodTestCase):
    def serve_many(self, server, connections=20):
        socks = [server.connect() for _ in range(connections)]
        try:
            for sock in socks:
                sock.sendall(GET)
            for sock in socks:
                self.assertEqual(read_response(sock)[0], 200)
        finally:
            for sock in socks:
                sock.close()

    def test_two_workers(self):
        """workers: 2 starts two event loops that all serve the one address."""
        server = self.start("workers: 2\n")
        self.assertRegex(server.log(), r"with 2 workers")
        self.serve_many(server)
        self.assertEqual(server.stop(), 0)

    def test_auto_workers(self):
        """workers: auto starts one per CPU."""
        server = self.start("workers: auto\n")
        cpus = len(os.sched_getaffinity(0))
        self.assertRegex(server.log(), rf"with {cpus} workers?\b")
        self.serve_many(server)
        self.assertEqual(server.stop(), 0)


class ListenersTest(HellodTestCase):
    def test_several_listeners_all_serve(self):
        """Two TCP addresses and a unix socket in one listen: list are all served."""
        directory = tempfile.mkdtemp(prefix="hellod-listen-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "s.sock")
        server = self.start(f'listen: ["127.0.0.1:0", "127.0.0.2:0", "unix:{path}"]\n')
        tcp = [a.rsplit(":", 1) for a in server.addresses if not a.startswith("unix:")]
        self.assertEqual(sorted(host for host, _ in tcp), ["127.0.0.1", "127.0.0.2"], server.addresses)
        for host, port in tcp:
            self.assertIn(b"200 OK", raw_response(int(port), host))
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)


class ValueFormsTest(unittest.TestCase):
    def test_accepted_forms_check_ok(self):
        """Durations as "250ms", "10s", "2m" or a number of seconds, a v6 address,
        a unix path and quoted header values all pass --check-config."""
        directory = tempfile.mkdtemp(prefix="hellod-forms-")
        self.addCleanup(shutil.rmtree, directory, True)
        texts = [
            "timeouts: {header: 250ms, keepalive: 10s, send: 2m, shutdown: 5}\n",
            'listen: ["[::1]:8080", "127.0.0.1:0", "unix:/run/hellod/s.sock"]\n',
            "response:\n  headers:\n    X-Quoted: \"a: b, c\"\n    Cache-Control: no-cache\n",
            "workers: auto\nlog: {level: debug, access: true}\n",
            "",
        ]
        for text in texts:
            with self.subTest(text):
                path = os.path.join(directory, "c.yaml")
                with open(path, "w") as f:
                    f.write(text)
                result = subprocess.run([HELLOD, "-t", "-c", path], capture_output=True, text=True, timeout=10)
                self.assertEqual((result.returncode, result.stdout), (0, "configuration OK\n"), result.stderr)


if __name__ == "__main__":
    unittest.main()
