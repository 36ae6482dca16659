# SPDX-License-Identifier: MIT
"""The command line: --check-config, --version, --help, exit codes, an
invalid config or a bind failure at start, and the embedded default."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest
import urllib.request

from hellod_harness import traced_sanitizer_env, HELLOD, SOURCE_DIR, Hellod, HellodTestCase

RUN_TIMEOUT = 10


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(hellod VERSION (\S+)", f.read()).group(1)


def free_port():
    """A port nothing listens on right now (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CliTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hellod-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, text, name="hellod.yaml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_hellod(self, *args):
        return subprocess.run([HELLOD, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT)


class CheckConfigTest(CliTestCase):
    def test_good_file(self):
        """--check-config on a valid file prints "configuration OK" and exits 0."""
        path = self.write('listen: ["127.0.0.1:0"]\nresponse: {status: 204}\n')
        for flag in ("--check-config", "-t"):
            with self.subTest(flag):
                result = self.run_hellod(flag, "--config", path)
                self.assertEqual((result.returncode, result.stdout, result.stderr),
                                 (0, "configuration OK\n", ""))

    def test_documented_default_config_checks_ok(self):
        """config/hellod.yaml, the documented default, passes --check-config."""
        result = self.run_hellod("-t", "-c", os.path.join(SOURCE_DIR, "config", "hellod.yaml"))
        self.assertEqual((result.returncode, result.stdout), (0, "configuration OK\n"), result.stderr)

    def test_bad_files_name_file_line_column_and_key(self):
        """Each bad file: exit 1, nothing on stdout, one line on stderr of the
        form PATH:LINE:COL: KEY: message, with the position of the offending value."""
        cases = [
            ("response:\n  status: abc\n", 2, 11, r"response\.status: .*200\.\.599.*abc"),
            ("response:\n  status: 600\n", 2, 11, r"response\.status:"),
            ("respnse: {}\n", 1, 1, r'respnse: unknown key.*did you mean "response"'),
            ('listen: ["127.0.0.1:99999"]\n', 1, 10, r"listen\[0\]: .*port"),
            ('listen: ["nohost"]\n', 1, 10, r"listen\[0\]:"),
            ("workers: 0\n", 1, 10, r"workers:"),
            ("timeouts: {header: 5 parsecs}\n", 1, 20, r"timeouts\.header: .*duration"),
            ("limits:\n  max_body_bytes: -5\n", 2, 19, r"limits\.max_body_bytes:"),
            ("log: {level: loud}\n", 1, 14, r"log\.level:"),
            ("response:\n  headers:\n    Bad Name: x\n", 3, 5, r"response\.headers\.Bad Name: .*token"),
            ('response:\n  headers:\n    X-A: "a\\r\\nSet-Cookie: x"\n', 3, 10,
             r"response\.headers\.X-A: .*CR, LF or NUL"),
            ("response:\n  headers:\n    Content-Length: '5'\n", 3, 5, r"response\.headers\.Content-Length:"),
            ("response:\n  headers:\n    connection: close\n", 3, 5, r"response\.headers\.connection:"),
            ("response:\n  headers:\n    Date: x\n", 3, 5, r"response\.headers\.Date:"),
            ("response:\n  headers:\n    Transfer-Encoding: x\n", 3, 5, r"response\.headers\.Transfer-Encoding:"),
            ("response: {body: a, body_file: /etc/hostname}\n", 1, None, r"response\.body.*exclusive"),
            ("response: {body_file: /nonexistent/page}\n", 1, 23, r"response\.body_file: .*/nonexistent/page"),
            ("listen: [\n", 2, 1, r"invalid YAML"),
        ]
        for text, line, column, message in cases:
            with self.subTest(text):
                path = self.write(text)
                result = self.run_hellod("--check-config", "--config", path)
                self.assertEqual(result.returncode, 1)
                self.assertEqual(result.stdout, "")
                lines = result.stderr.splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                position = rf"{line}:{column}" if column else rf"{line}:\d+"
                self.assertRegex(lines[0], rf"^{re.escape(path)}:{position}: {message}")

    def test_missing_file(self):
        """--check-config on a file that does not exist names it and exits 1."""
        path = os.path.join(self.dir, "absent.yaml")
        result = self.run_hellod("-t", "-c", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn(path, result.stderr)


class StartFailureTest(CliTestCase):
    def test_invalid_config_exits_1_without_opening_a_socket(self):
        """An invalid config at start: exit 1, the error on stderr, no listener.
        strace (when present) proves no socket was even created."""
        port = free_port()
        path = self.write(f'listen: ["127.0.0.1:{port}"]\nresponse: {{status: 99}}\n')
        command = [HELLOD, "--config", path]
        trace_path = os.path.join(self.dir, "trace")
        if shutil.which("strace"):
            command = ["strace", "-f", "-qq", "-e", "trace=socket,bind,listen", "-o", trace_path] + command
        # Under ptrace LeakSanitizer cannot run; sanitizer builds switch it off here.
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                                env={**os.environ, **traced_sanitizer_env()})
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, rf"{re.escape(path)}:2:\d+: response\.status:")
        self.assertNotIn("listening", result.stderr)
        if os.path.exists(trace_path):
            with open(trace_path) as f:
                trace = f.read()
            self.assertNotRegex(trace, r"socket\(AF_INET6?,|bind\(|listen\(", trace)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # still free

    def test_missing_explicit_config_exits_1(self):
        """--config naming a missing file is an error at start, not the embedded default."""
        result = self.run_hellod("--config", os.path.join(self.dir, "absent.yaml"))
        self.assertEqual(result.returncode, 1)
        self.assertIn("absent.yaml", result.stderr)
        self.assertNotIn("listening", result.stderr)

    def assert_bind_failure(self, holder):
        port = holder.getsockname()[1]
        path = self.write(f'listen: ["127.0.0.1:{port}"]\n')
        result = self.run_hellod("--config", path)
        self.assertEqual(result.returncode, 1)
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        self.assertEqual(len(errors), 1, result.stderr)
        self.assertIn(f"127.0.0.1:{port}", errors[0])
        self.assertRegex(errors[0], r"(?i)in use")
        self.assertNotIn("listening on", result.stderr)

    def test_bind_failure_is_one_clear_line_and_exit_1(self):
        """Port in use by a socket the test holds: one error line naming the address, exit 1."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            self.assert_bind_failure(holder)

    def test_no_silent_port_sharing_with_a_reuseport_holder(self):
        """Even a holder with SO_REUSEPORT (same user) does not let hellod share its port."""
        with socket.socket() as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            self.assert_bind_failure(holder)


class InfoFlagsTest(CliTestCase):
    def test_version(self):
        """-V and --version print "hellod VERSION" (the CMake project version) and exit 0."""
        for flag in ("-V", "--version"):
            with self.subTest(flag):
                result = self.run_hellod(flag)
                self.assertEqual(result.returncode, 0)
                self.assertEqual(result.stdout.strip(), f"hellod {project_version()}")

    def test_help(self):
        """--help lists every option and exits 0."""
        for flag in ("-h", "--help"):
            with self.subTest(flag):
                result = self.run_hellod(flag)
                self.assertEqual(result.returncode, 0)
                for option in ("--config", "--check-config", "--version", "--help", "/etc/hellod.yaml"):
                    self.assertIn(option, result.stdout)

    def test_unknown_option_fails(self):
        """An unknown option is an error (non-zero exit, a message)."""
        result = self.run_hellod("--bogus")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--bogus", result.stdout + result.stderr)


class EmbeddedDefaultTest(HellodTestCase):
    def test_no_config_runs_on_the_embedded_default(self):
        """Without --config and without /etc/hellod.yaml, hellod says so and
        serves the embedded default on 0.0.0.0:8080."""
        if os.path.exists("/etc/hellod.yaml"):
            self.skipTest("/etc/hellod.yaml exists, so the embedded default is not used")
        try:
            with socket.socket() as probe:
                probe.bind(("0.0.0.0", 8080))
        except OSError as error:
            self.skipTest(f"port 8080 is busy ({error}); the embedded default listens there")
        server = Hellod("", args=[], wait_ready=False)
        self.addCleanup(server.close)
        try:
            server.wait_ready()
        except AssertionError:
            if "8080" in server.log() and "in use" in server.log():
                self.skipTest("port 8080 was taken between the check and the start")
            raise
        self.assertIn("0.0.0.0:8080", server.addresses)
        self.assertRegex(server.log(), r"/etc/hellod\.yaml does not exist: running on the embedded default")
        with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=5) as response:
            self.assertEqual(response.read(), b"Hello, World!\n")
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
