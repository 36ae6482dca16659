# SPDX-License-Identifier: MIT
"""`hellod --check-config` over a table of broken configs: every key, wrong in
every way that applies (wrong type, out of range, malformed, empty, unknown
key, duplicate). Each must print exactly one clear line to stderr naming the
file, line, column and key, and exit 1: never crash, never hang, never pass.
Under the sanitizer builds, the check also fails on any report."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from hellod_harness import HELLOD, sanitizer_reports

RUN_TIMEOUT = 20

WRONG_TYPES = {"list": "[1, 2]", "map": "{a: 1}", "text": '"abc"'}

# (name, yaml text, key path the error must name). The key path is matched
# as the text after "file:line:col: ", so it also proves the location prefix.
BROKEN = [
    ("listen_number", "listen: 8080\n", "listen"),
    ("listen_no_port", 'listen: "127.0.0.1"\n', "listen"),
    ("listen_port_too_big", 'listen: "127.0.0.1:65536"\n', "listen"),
    ("listen_negative_port", 'listen: "127.0.0.1:-1"\n', "listen"),
    ("listen_host_name", 'listen: "localhost:80"\n', "listen"),
    ("listen_bad_ipv4", 'listen: "256.1.1.1:80"\n', "listen"),
    ("listen_v6_without_brackets", 'listen: "::1:80"\n', "listen"),
    ("listen_bad_v6", 'listen: "[::g]:80"\n', "listen"),
    ("listen_relative_unix", 'listen: "unix:relative.sock"\n', "listen"),
    ("listen_unix_too_long", 'listen: "unix:/' + "a" * 200 + '"\n', "listen"),
    ("listen_empty_list", "listen: []\n", "listen"),
    ("listen_map", "listen: {a: 1}\n", "listen"),
    ("listen_duplicate", 'listen: ["127.0.0.1:80", "127.0.0.1:80"]\n', "listen"),
    ("listen_nested_list", 'listen: [["127.0.0.1:80"]]\n', "listen"),
    ("workers_zero", "workers: 0\n", "workers"),
    ("workers_too_many", "workers: 257\n", "workers"),
    ("workers_negative", "workers: -1\n", "workers"),
    ("workers_fraction", "workers: 1.5\n", "workers"),
    ("workers_word", "workers: many\n", "workers"),
    ("workers_huge", "workers: 99999999999999999999999\n", "workers"),
    ("status_low", "response: {status: 199}\n", "response.status"),
    ("status_high", "response: {status: 600}\n", "response.status"),
    ("status_word", "response: {status: ok}\n", "response.status"),
    ("status_hex", "response: {status: 0xc8}\n", "response.status"),
    ("content_type_crlf", 'response: {content_type: "text/plain\\r\\nX: y"}\n', "response.content_type"),
    ("content_type_list", "response: {content_type: [a]}\n", "response.content_type"),
    ("body_and_body_file", 'response: {body: "x", body_file: /etc/hostname}\n', "response"),
    ("body_map", "response: {body: {a: 1}}\n", "response.body"),
    ("body_file_missing", "response: {body_file: /nonexistent/hellod-body}\n", "response.body_file"),
    ("body_file_directory", "response: {body_file: /}\n", "response.body_file"),
    ("body_file_empty", 'response: {body_file: ""}\n', "response.body_file"),
    ("headers_list", "response: {headers: [a]}\n", "response.headers"),
    ("headers_bad_name", 'response: {headers: {"X Y": a}}\n', "response.headers"),
    ("headers_crlf_value", 'response: {headers: {X: "a\\r\\nSet-Cookie: b"}}\n', "response.headers"),
    ("headers_nul_value", 'response: {headers: {X: "a\\0b"}}\n', "response.headers"),
    ("headers_reserved", "response: {headers: {Content-Length: 5}}\n", "response.headers"),
    ("headers_duplicate_case", "response: {headers: {X-A: a, x-a: b}}\n", "response.headers"),
    ("headers_value_map", "response: {headers: {X: {a: b}}}\n", "response.headers"),
    ("response_unknown_key", "response: {stauts: 200}\n", "response"),
    ("response_list", "response: [1]\n", "response"),
    ("log_level_word", "log: {level: loud}\n", "log.level"),
    ("log_access_word", "log: {access: maybe}\n", "log.access"),
    ("log_target_word", "log: {target: file}\n", "log.target"),
    ("log_unknown_key", "log: {levle: info}\n", "log"),
    ("unknown_top_key", "listn: []\n", ""),
    ("duplicate_top_key", "workers: 1\nworkers: 2\n", ""),
    ("top_level_list", "- a\n- b\n", ""),
    ("top_level_scalar", "hello\n", ""),
    ("two_documents", "workers: 1\n---\nworkers: 2\n", ""),
    ("invalid_yaml_indent", "response:\n  status: 200\n body: x\n", ""),
    ("invalid_yaml_unclosed", "response: {status: 200\n", ""),
    ("invalid_yaml_tab", "response:\n\tstatus: 200\n", ""),
    ("deep_nesting_flow", "a: " + "[" * 5000 + "]" * 5000 + "\n", ""),
    ("alias_bomb", "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n", ""),
]

DURATIONS = ["0", "-1s", "25h", "10 parsecs", "1.5.2s", "ms", "1e400", "[1]", "{a: 1}", "99999999999999999999h"]
for key in ("header", "keepalive", "send", "shutdown"):
    for i, value in enumerate(DURATIONS):
        BROKEN.append((f"timeouts_{key}_{i}", f"timeouts: {{{key}: {value}}}\n", f"timeouts.{key}"))
BROKEN.append(("timeouts_unknown_key", "timeouts: {idle: 1s}\n", "timeouts"))

LIMITS = {
    "max_connections": ["0", "1000001"],
    "max_header_bytes": ["255", "1048577"],
    "max_body_bytes": ["-1", "1099511627777"],
    "keepalive_requests": ["0", "1000000001"],
}
for key, out_of_range in LIMITS.items():
    for i, value in enumerate(out_of_range + ["1.5", "lots", "99999999999999999999999", "[1]", "{a: 1}", "0x10"]):
        BROKEN.append((f"limits_{key}_{i}", f"limits: {{{key}: {value}}}\n", f"limits.{key}"))
BROKEN.append(("limits_unknown_key", "limits: {max_conns: 1}\n", "limits"))

for section in ("response", "timeouts", "limits", "log"):
    for kind, value in WRONG_TYPES.items():
        if section == "response" and kind == "map":
            continue
        BROKEN.append((f"{section}_as_{kind}", f"{section}: {value}\n", section))


class CheckConfigTableTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hellod-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check(self, name, text, timeout=RUN_TIMEOUT):
        """Runs --check-config on text; returns (exit code, stdout, stderr, path)."""
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        proc = subprocess.Popen([HELLOD, "--check-config", "--config", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail(f"--check-config did not finish within {timeout}s on {text[:200]!r}")
        reports = sanitizer_reports(proc.pid)
        self.assertEqual(reports, [], f"sanitizer report on {text[:200]!r}")
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), path

    def assert_one_clear_error(self, name, text, key_path, timeout=RUN_TIMEOUT):
        code, out, err, path = self.check(name, text, timeout)
        self.assertGreaterEqual(code, 0, f"killed by signal {signal.Signals(-code).name if code < 0 else ''}: {err}")
        self.assertEqual(code, 1, f"exit {code}; stdout {out!r}; stderr {err!r}")
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(err.endswith("\n"))
        match = re.match(re.escape(path) + r":(\d+):(\d+): (.*)$", lines[0])
        self.assertIsNotNone(match, f"no file:line:col: prefix in {lines[0]!r}")
        self.assertGreaterEqual(int(match.group(1)), 1)
        self.assertGreaterEqual(int(match.group(2)), 1)
        message = match.group(3)
        if key_path:
            self.assertTrue(message.startswith(key_path), f"{message!r} does not name {key_path!r}")
        self.assertGreater(len(message), len(key_path) + 10, f"message too terse: {message!r}")
        self.assertNotRegex(err, r"[\x00-\x08\x0b-\x1f\x7f]", "control characters in the error")

    def test_every_broken_config_gets_one_clear_error_and_exit_1(self):
        for name, text, key_path in BROKEN:
            with self.subTest(name=name):
                self.assert_one_clear_error(name, text, key_path)

    def test_a_valid_config_still_passes(self):
        """The table above is not passing for a trivial reason (everything fails)."""
        code, out, err, _ = self.check("good", 'listen: "127.0.0.1:0"\nworkers: 1\n'
                                       "timeouts: {header: 250ms}\nlimits: {max_body_bytes: 0}\n")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("configuration OK", out)

    def test_a_lone_comma_gets_an_error_not_a_hang(self):
        """Found by config_fuzzer (fixed in 4d7b3b0): a file holding "," made
        YAML::LoadAll loop forever, allocating (yaml-cpp issue #1040), so
        --check-config, start-up and reload hung and ate memory."""
        # A short timeout: should the loop come back, it allocates ~150 MB a second.
        self.assert_one_clear_error("comma", ",", "", timeout=3)

    def test_control_characters_in_the_config_stay_out_of_the_error_line(self):
        """Found by config_fuzzer (fixed in 4d7b3b0): a quoted key "x\\r\\ny" and
        yaml-cpp's "unknown escape character" message put raw CR/LF into the
        error, so the one-line error became two lines (or any terminal escape)."""
        for name, text in (("key_crlf", 'response:\n  "x\\r\\nfake: line": 1\n'),
                           ("escape_cr", 'a: "\\\r"\n')):
            with self.subTest(name=name):
                self.assert_one_clear_error(name, text, "")


if __name__ == "__main__":
    unittest.main()
