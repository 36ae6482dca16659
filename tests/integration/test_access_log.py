# SPDX-License-Identifier: MIT
"""log.access: text | json, written by hellod's logger thread, and the
journal's structured fields.

JSON lines must be read by Python's json module whatever bytes the client
sent (control bytes, quotes, backslashes, invalid UTF-8 in the target and
the headers); text lines must stay one printable line each.
"""

import json
import os
import re
import signal
import socket
import time
import unittest

from fake_journald import JournaledTestCase, can_fake_journald
from hellod_harness import HellodTestCase, recv_until_close, wait_for

# Requests with hostile bytes. llhttp refuses control bytes other than HTAB
# in a header value, and strict framing any byte outside visible ASCII in the
# target (400), which hellod logs too, with what it had read.
HOSTILE = [
    (b'GET /q"u\\o%C3%A9 HTTP/1.1\r\nHost: x\r\n'
     b'User-Agent: a "quoted" \\ back\tslash \xff\xc0\xaf end\r\n'
     b'Referer: http://r/\xe2\x82\xac\xed\xa0\x80\r\nConnection: close\r\n\r\n', 200),
    (b"GET /ctl HTTP/1.1\r\nHost: x\r\nUser-Agent: bell\x07 esc\x1b[31m\r\n"
     b"Connection: close\r\n\r\n", 400),
    (b"GET /nul HTTP/1.1\r\nHost: x\r\nReferer: a\x00b\r\nConnection: close\r\n\r\n", 400),
    (b"GET /\x01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /t\t\xff\xfe\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
]


def send(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return recv_until_close(sock)


def access_lines(server, prefix):
    return [line for line in server.log().splitlines() if line.startswith(prefix)]


class JsonAccessLogTest(HellodTestCase):
    def test_json_lines_parse_whatever_the_client_sent(self):
        """Every JSON line is valid JSON for Python; invalid UTF-8 becomes U+FFFD, quotes,
        backslashes and control bytes are escaped, valid UTF-8 is kept."""
        server = self.start("log: {access: json}\n")
        for request, status in HOSTILE:
            self.assertTrue(send(server.port, request).startswith(b"HTTP/1.1 %d" % status))
        lines = wait_for(lambda: (lambda found: found if len(found) == len(HOSTILE) else None)(
            access_lines(server, '{"time":')), 10, what=f"{len(HOSTILE)} access lines")
        records = [json.loads(line) for line in lines]
        self.assertEqual([r["status"] for r in records], [s for _, s in HOSTILE])
        first = records[0]
        self.assertEqual(first["method"], "GET")
        self.assertEqual(first["target"], '/q"u\\o%C3%A9')
        self.assertEqual(first["user_agent"], 'a "quoted" \\ back\tslash \ufffd\ufffd\ufffd end')
        self.assertEqual(first["referer"], "http://r/\u20ac\ufffd\ufffd\ufffd")
        self.assertEqual(first["http_version"], "HTTP/1.1")
        self.assertEqual(first["client_address"], "127.0.0.1")
        self.assertIsInstance(first["client_port"], int)
        self.assertEqual(first["route"], "default")
        self.assertGreater(first["bytes_sent"], 0)
        self.assertGreaterEqual(first["duration_seconds"], 0)
        self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        # Rejected requests: the method is unknown (null), the rest as far as it was read.
        self.assertEqual([r["method"] for r in records[1:]], [None] * 5)
        self.assertEqual(records[1]["target"], "/ctl")
        self.assertEqual(records[1]["user_agent"], "bell")
        self.assertEqual(records[1]["http_version"], "-")
        for line in lines:
            self.assertTrue(all(0x20 <= ord(c) for c in line), repr(line))

    def test_text_lines_stay_one_printable_line(self):
        """The text format escapes every byte outside printable ASCII as \\xHH."""
        server = self.start("log: {access: text}\n")
        for request, status in HOSTILE:
            self.assertTrue(send(server.port, request).startswith(b"HTTP/1.1 %d" % status))
        prefix = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 \d+ ")
        lines = wait_for(lambda: (lambda found: found if len(found) == len(HOSTILE) else None)(
            [line for line in server.log().splitlines() if prefix.match(line)]), 10,
            what="access lines")
        for line in lines:
            self.assertTrue(all(0x20 <= ord(c) < 0x7f for c in line), repr(line))
        self.assertIn(r'"GET /q\"u\\o%C3%A9 HTTP/1.1" 200 ', lines[0])
        self.assertIn(r'"a \"quoted\" \\ back\x09slash \xff\xc0\xaf end" '
                      r'"http://r/\xe2\x82\xac\xed\xa0\x80"', lines[0])
        self.assertIn(' "- /ctl -" 400 ', lines[1])

    def test_reload_switches_the_format(self):
        """log.access switches on the next response: off, then json, then text."""
        server = self.start("")
        notify_count = 0
        for config, marker in [("log: {access: json}\n", '{"time":'), ("log: {access: true}\n", "")]:
            server.write_config('listen: ["127.0.0.1:0"]\n' + config)
            server.signal(signal.SIGHUP)
            notify_count += 1
            server.wait_log(r"reloaded", count=notify_count)
            send(server.port, b"GET /after-%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                 % notify_count)
        server.wait_log(r'"target":"/after-1"')
        server.wait_log(r'"GET /after-2 HTTP/1\.1" 200 ')


def logger_wakeups(pid):
    """How often hellod's logger thread (named hellod-logger) has blocked and
    been woken so far: voluntary_ctxt_switches in its /proc task status. Only
    that thread: a sanitizer's runtime has threads of its own."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/comm") as f:
            if f.read().strip() != "hellod-logger":
                continue
        with open(f"/proc/{pid}/task/{task}/status") as f:
            return int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M).group(1))
    raise AssertionError(f"no hellod-logger thread in process {pid}")


def logger_asleep(pid, window=1.0):
    """True when the logger thread did not wake up at all in `window` seconds."""
    before = logger_wakeups(pid)
    time.sleep(window)  # a measurement window: a rate needs time to pass
    return logger_wakeups(pid) == before


class IdleLoggerTest(HellodTestCase):
    def test_idle_logger_sleeps(self):
        """With log.access off (the logger thread exists all the same: a reload may turn it
        on), an idle hellod's logger stops waking up; it used to poll its queues 100 times a
        second for ever."""
        server = self.start("workers: 2\n")
        wait_for(lambda: logger_asleep(server.proc.pid), 15, what="the idle logger to sleep")

    def test_the_first_record_after_a_quiet_while_is_written_at_once(self):
        """Once idle, the logger sleeps without a timeout: a worker's next record wakes it,
        so the line is written at once, not at the next poll, and not never."""
        server = self.start("log: {access: text}\n")
        wait_for(lambda: logger_asleep(server.proc.pid), 15, what="the idle logger to sleep")
        self.assertTrue(send(server.port, b"GET /after-sleep HTTP/1.1\r\nHost: x\r\n"
                                          b"Connection: close\r\n\r\n").startswith(b"HTTP/1.1 200"))
        wait_for(lambda: [line for line in server.log().splitlines() if "/after-sleep" in line],
                 5, what="the access line of the request sent to a sleeping logger")


@unittest.skipUnless(can_fake_journald(), "needs root and unshare -m for a stand-in journald")
class JournalAccessLogTest(JournaledTestCase):
    """Access records in the journal carry structured fields, so that
    `journalctl -u hellod HTTP_STATUS=503` selects them."""

    def test_access_records_carry_structured_fields(self):
        server, _notify = self.start_journaled("log: {target: journal, access: json}\n")
        port = server.port
        send(port, b"GET /j?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: probe\r\nConnection: close\r\n\r\n")
        send(port, b"GET / HTTP/1.1\r\n\r\n")
        ok, bad = (wait_for(lambda: next((r for r in self.journald.records
                                          if r.get("HTTP_STATUS") == status), None),
                            10, what=f"HTTP_STATUS={status} record; got {self.journald.records}")
                   for status in ("200", "400"))
        self.assertEqual(ok["HTTP_METHOD"], "GET")
        self.assertEqual(ok["HTTP_TARGET"], "/j?x=1")
        self.assertEqual(ok["HTTP_VERSION"], "HTTP/1.1")
        self.assertEqual(ok["HTTP_ROUTE"], "default")
        self.assertEqual(ok["HTTP_USER_AGENT"], "probe")
        self.assertNotIn("HTTP_REFERER", ok)
        self.assertEqual(ok["CLIENT_ADDRESS"], "127.0.0.1")
        self.assertRegex(ok["CLIENT_PORT"], r"^\d+$")
        self.assertRegex(ok["BYTES_SENT"], r"^[1-9]\d*$")
        self.assertRegex(ok["DURATION_USEC"], r"^\d+$")
        self.assertEqual(ok["PRIORITY"], "6")
        self.assertEqual(ok["SYSLOG_IDENTIFIER"], "hellod")
        self.assertEqual(ok["MESSAGE_ID"], "af470a4e8d4d452ab39e54a48587d925")
        self.assertEqual(json.loads(ok["MESSAGE"])["target"], "/j?x=1")  # the line, in its format
        self.assertEqual(bad["HTTP_METHOD"], "")
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
