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

# Routes, health and templates (issue 10). The key path is where the error
# points; for a shadowed route, the route that can never match.
ROUTE = "routes:\n  - {match: {path: /a}, response: {}}\n"
BROKEN += [
    ("routes_map", "routes: {a: 1}\n", "routes"),
    ("routes_scalar_entry", "routes: [x]\n", "routes[0]"),
    ("routes_empty_entry", "routes:\n  -\n", "routes[0]"),
    ("route_without_response", "routes:\n  - match: {path: /a}\n", "routes[0]"),
    ("route_unknown_key", "routes:\n  - respones: {}\n", "routes[0].respones"),
    ("route_match_unknown_key", "routes: [{match: {paht: /a}, response: {}}]\n", "routes[0].match.paht"),
    ("route_match_scalar", "routes: [{match: /a, response: {}}]\n", "routes[0].match"),
    ("route_name_upper", "routes: [{name: Api, response: {}}]\n", "routes[0].name"),
    ("route_name_space", 'routes: [{name: "a b", response: {}}]\n', "routes[0].name"),
    ("route_name_long", "routes: [{name: " + "a" * 65 + ", response: {}}]\n", "routes[0].name"),
    ("route_name_list", "routes: [{name: [a], response: {}}]\n", "routes[0].name"),
    ("route_name_duplicate", "routes:\n  - {name: a, match: {path: /a}, response: {}}\n"
                             "  - {name: a, match: {path: /b}, response: {}}\n", "routes[1].name"),
    ("route_default_name_taken", "routes:\n  - {name: route2, match: {path: /a}, response: {}}\n"
                                 "  - {match: {path: /b}, response: {}}\n", "routes[1]"),
    ("route_path_and_prefix", "routes: [{match: {path: /a, prefix: /b}, response: {}}]\n",
     "routes[0].match.prefix"),
    ("route_path_relative", "routes: [{match: {path: healthz}, response: {}}]\n", "routes[0].match.path"),
    ("route_path_asterisk", 'routes: [{match: {path: "*"}, response: {}}]\n', "routes[0].match.path"),
    ("route_path_query", 'routes: [{match: {path: "/a?b"}, response: {}}]\n', "routes[0].match.path"),
    ("route_path_fragment", 'routes: [{match: {path: "/a#b"}, response: {}}]\n', "routes[0].match.path"),
    ("route_path_space", 'routes: [{match: {path: "/a b"}, response: {}}]\n', "routes[0].match.path"),
    ("route_path_utf8", 'routes: [{match: {path: "/caf\u00e9"}, response: {}}]\n', "routes[0].match.path"),
    ("route_prefix_empty", 'routes: [{match: {prefix: ""}, response: {}}]\n', "routes[0].match.prefix"),
    ("route_method_lowercase", "routes: [{match: {methods: [get]}, response: {}}]\n",
     "routes[0].match.methods[0]"),
    ("route_method_unknown", "routes: [{match: {methods: [FETCH]}, response: {}}]\n",
     "routes[0].match.methods[0]"),
    ("route_method_pri", "routes: [{match: {methods: [PRI]}, response: {}}]\n",
     "routes[0].match.methods[0]"),
    ("route_method_not_token", 'routes: [{match: {methods: ["G T"]}, response: {}}]\n',
     "routes[0].match.methods[0]"),
    ("route_method_duplicate", "routes: [{match: {methods: [GET, GET]}, response: {}}]\n",
     "routes[0].match.methods[1]"),
    ("route_methods_empty", "routes: [{match: {methods: []}, response: {}}]\n", "routes[0].match.methods"),
    ("route_methods_map", "routes: [{match: {methods: {GET: 1}}, response: {}}]\n", "routes[0].match.methods"),
    ("route_host_port", 'routes: [{match: {host: "example.com:80"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_v6_port", 'routes: [{match: {host: "[::1]:80"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_bad_v6", 'routes: [{match: {host: "[::g]"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_star", 'routes: [{match: {host: "*"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_empty", 'routes: [{match: {host: ""}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_inner_star", 'routes: [{match: {host: "a.*.com"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_glued_star", 'routes: [{match: {host: "*example.com"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_trailing_dot", 'routes: [{match: {host: "example.com."}, response: {}}]\n',
     "routes[0].match.host"),
    ("route_host_empty_label", 'routes: [{match: {host: "a..b"}, response: {}}]\n', "routes[0].match.host"),
    ("route_host_bad_chars", 'routes: [{match: {host: "exa mple.com"}, response: {}}]\n',
     "routes[0].match.host"),
    ("route_host_list", "routes: [{match: {host: [a]}, response: {}}]\n", "routes[0].match.host"),
    ("route_duplicate_exact_path", ROUTE + "  - {match: {path: /a}, response: {}}\n", "routes[1]"),
    ("route_duplicate_exact_path_narrower", ROUTE + "  - {match: {path: /a, methods: [GET], host: x.org}, response: {}}\n",
     "routes[1]"),
    ("route_shadowed_by_prefix", "routes:\n  - {match: {prefix: /api/}, response: {}}\n"
                                 "  - {match: {path: /api/v1}, response: {}}\n", "routes[1]"),
    ("route_shadowed_by_shorter_prefix", "routes:\n  - {match: {prefix: /a}, response: {}}\n"
                                         "  - {match: {prefix: /a/b}, response: {}}\n", "routes[1]"),
    ("route_shadowed_by_catch_all", "routes:\n  - {response: {}}\n  - {match: {path: /x}, response: {}}\n",
     "routes[1]"),
    ("route_shadowed_methods", "routes:\n  - {match: {path: /a, methods: [GET, HEAD]}, response: {}}\n"
                               "  - {match: {path: /a, methods: [HEAD]}, response: {}}\n", "routes[1]"),
    ("route_shadowed_host_wildcard", 'routes:\n  - {match: {prefix: /, host: "*.example.com"}, response: {}}\n'
                                     "  - {match: {prefix: /x, host: b.a.EXAMPLE.com}, response: {}}\n",
     "routes[1]"),
    ("health_path_no_route", "health: {path: /healthz}\n", "health.path"),
    ("health_path_prefix_only", "routes: [{match: {prefix: /healthz}, response: {}}]\nhealth: {path: /healthz}\n",
     "health.path"),
    ("health_path_relative", ROUTE + "health: {path: a}\n", "health.path"),
    ("health_drain_without_path", "health: {drain: 10s}\n", "health.drain"),
    ("health_unknown_key", "health: {timeout: 1s}\n", "health.timeout"),
    ("template_word", "response: {template: yes}\n", "response.template"),
    ("template_unset_env", 'response: {template: true, body: "${env:HELLOD_TEST_SURELY_UNSET_7F3A}"}\n',
     "response.body"),
    ("template_unknown_variable", 'response: {template: true, body: "${host}"}\n', "response.body"),
    ("template_unterminated", 'response: {template: true, body: "${hostname"}\n', "response.body"),
    ("template_bad_env_name", 'response: {template: true, body: "${env:A-B}"}\n', "response.body"),
    ("template_header", 'response: {template: true, headers: {X-A: "${env:HELLOD_TEST_SURELY_UNSET_7F3A}"}}\n',
     "response.headers.X-A"),
    ("template_in_route", 'routes: [{response: {template: true, body: "${nope}"}}]\n', "routes[0].response.body"),
]
for i, value in enumerate(["-1s", "25h", "soon", "[1]"]):
    BROKEN.append((f"health_drain_{i}", ROUTE + f"health: {{path: /a, drain: {value}}}\n", "health.drain"))
# Everything the top-level response refuses, a route's response refuses too.
BROKEN += [("route_" + name, "routes:\n  - " + text, "routes[0]." + key)
           for name, text, key in list(BROKEN) if key.startswith("response") and "\n" not in text[:-1]
           and not name.startswith("template")]

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

for section in ("response", "routes", "health", "timeouts", "limits", "log"):
    for kind, value in WRONG_TYPES.items():
        if section == "response" and kind == "map":
            continue
        BROKEN.append((f"{section}_as_{kind}", f"{section}: {value}\n", section))


class CheckConfigTableTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hellod-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check(self, name, text, timeout=RUN_TIMEOUT, env=None):
        """Runs --check-config on text; returns (exit code, stdout, stderr, path)."""
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        proc = subprocess.Popen([HELLOD, "--check-config", "--config", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=None if env is None else {**os.environ, **env})
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

    def test_a_valid_routes_config_passes(self):
        """The issue's example, with a body file that exists."""
        body = os.path.join(self.dir, "maintenance.html")
        with open(body, "w") as f:
            f.write("<h1>back soon</h1>\n")
        code, out, err, _ = self.check("routes", f"""
response: {{status: 200, body: "Hello, World!\\n"}}
routes:
  - name: health
    match: {{path: /healthz}}
    response: {{status: 200, body: "ok\\n"}}
  - match: {{prefix: /api/, methods: [GET, HEAD], host: "*.example.com"}}
    response:
      status: 503
      content_type: "text/html; charset=utf-8"
      body_file: {body}
      headers: {{Retry-After: "120", Cache-Control: no-store}}
  - match: {{path: /api/v1, host: example.com}}
    response: {{template: true, body: "${{hostname}} ${{version}} ${{env:HELLOD_TEST_BACKEND}} $${{x}}\\n"}}
health:
  path: /healthz
  drain: 10s
""", env={"HELLOD_TEST_BACKEND": "blue"})
        self.assertEqual((code, err), (0, ""))
        self.assertIn("configuration OK", out)

    def test_a_shadowed_route_names_both_positions(self):
        code, out, err, path = self.check("shadowed", "routes:\n"
                                          "  - name: api\n    match: {prefix: /api/}\n    response: {}\n"
                                          "  - name: v1\n    match: {path: /api/v1}\n    response: {}\n")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f'{path}:5:5: routes[1]: route "v1" can never match: route "api" '
                              f'(routes[0], {path}:2:5) comes first and matches every request it '
                              f'would (same or wider path, methods and host)\n')
        code, out, err, path = self.check("duplicate", "routes:\n"
                                          "  - {match: {path: /h}, response: {}}\n"
                                          "  - {match: {path: /h}, response: {}}\n")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f'{path}:3:5: routes[1]: duplicate exact path "/h": route "route1" '
                              f'(routes[0], {path}:2:5) comes first with the same path and the '
                              f'same or wider methods and host, so this route can never match\n')

    def test_each_route_refusal_has_its_exact_message_and_positions(self):
        """Issue 10's refusals, each with the whole message: a route covered by
        an earlier one (wider methods, a host wildcard, a catch-all, default
        and given names, block style) names both routes' file:line:column;
        a health.path that is no route's exact path names the health.path."""
        never = ('{at}: routes[1]: route "{later}" can never match: route "{earlier}" '
                 '(routes[0], {path}:{first}) comes first and matches every request it would '
                 '(same or wider path, methods and host)\n')
        duplicate = ('{at}: routes[1]: duplicate exact path "/a": route "route1" '
                     '(routes[0], {path}:2:5) comes first with the same path and the same or '
                     'wider methods and host, so this route can never match\n')
        no_route = ('{at}: health.path: "/healthz" is no route\'s exact path; add a route with '
                    'match: {{path: /healthz}}\n')
        cases = [
            ("wider_methods", "routes:\n  - {match: {path: /a, methods: [GET, HEAD]}, response: {}}\n"
                              "  - {match: {path: /a, methods: [HEAD]}, response: {}}\n",
             duplicate, {"at": "3:5"}),
            ("narrower_host", "routes:\n  - {match: {path: /a}, response: {}}\n"
                              "  - {match: {path: /a, methods: [GET], host: x.org}, response: {}}\n",
             duplicate, {"at": "3:5"}),
            ("host_wildcard", 'routes:\n  - {match: {prefix: /, host: "*.example.com"}, response: {}}\n'
                              "  - {match: {prefix: /x, host: b.a.EXAMPLE.com}, response: {}}\n",
             never, {"at": "3:5", "later": "route2", "earlier": "route1", "first": "2:5"}),
            ("catch_all", "routes:\n  - {response: {}}\n  - {match: {path: /x}, response: {}}\n",
             never, {"at": "3:5", "later": "route2", "earlier": "route1", "first": "2:5"}),
            ("block_style_names", "routes:\n  - name: all\n    response: {}\n"
                                  "  - name: get\n    match:\n      methods: GET\n    response: {}\n",
             never, {"at": "4:5", "later": "get", "earlier": "all", "first": "2:5"}),
            ("exact_after_prefix", "routes:\n  - {match: {prefix: /api/, methods: [GET]}, response: {}}\n"
                                   "  - {match: {path: /api/v1, methods: [GET]}, response: {}}\n",
             never, {"at": "3:5", "later": "route2", "earlier": "route1", "first": "2:5"}),
            ("health_no_route", "routes: [{match: {path: /a}, response: {}}]\n"
                                "health: {path: /healthz, drain: 3s}\n", no_route, {"at": "2:16"}),
            ("health_prefix_only", "routes: [{match: {prefix: /healthz}, response: {}}]\n"
                                   "health:\n  path: /healthz\n", no_route, {"at": "3:9"}),
        ]
        for name, text, template, fields in cases:
            with self.subTest(name=name):
                code, out, err, path = self.check(name, text)
                self.assertEqual((code, out), (1, ""), err)
                expected = template.format(path=path, **{**fields, "at": f"{path}:{fields['at']}"})
                self.assertEqual(err, expected)

    def test_a_route_response_is_refused_with_the_top_level_message(self):
        """Everything the top-level response refuses, a route's response
        refuses with the same message, at the route's own position."""
        pairs = [(name, text, key) for name, text, key in BROKEN
                 if key.startswith("response") and any(n == "route_" + name for n, _, _ in BROKEN)]
        self.assertGreater(len(pairs), 15)
        location = re.compile(r"^(.*):(\d+):(\d+): (.*)\n$")
        for name, text, key in pairs:
            with self.subTest(name=name):
                _, _, top, top_path = self.check(name, text)
                _, _, route, route_path = self.check("route_" + name, "routes:\n  - " + text)
                top_match, route_match = location.match(top), location.match(route)
                self.assertIsNotNone(top_match, top)
                self.assertIsNotNone(route_match, route)
                self.assertEqual(route_match.group(1), route_path)
                self.assertEqual(route_match.group(2), "2")  # the line of the route
                self.assertEqual(int(route_match.group(3)), int(top_match.group(3)) + 4, route)
                self.assertEqual(route_match.group(4), "routes[0]." + top_match.group(4))

    def test_an_undefined_template_variable_names_its_position(self):
        code, out, err, path = self.check(
            "template", 'response:\n  template: true\n  body: "${env:HELLOD_TEST_SURELY_UNSET_7F3A}"\n')
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f'{path}:3:9: response.body: template variable '
                              f'"${{env:HELLOD_TEST_SURELY_UNSET_7F3A}}" is undefined: '
                              f"HELLOD_TEST_SURELY_UNSET_7F3A is not set in hellod's environment\n")

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
