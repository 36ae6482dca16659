# SPDX-License-Identifier: MIT
"""Where log lines go: stderr, or the journal when stderr is the journal's
stream (JOURNAL_STREAM, systemd.exec(5)) or log.target says so.

Without systemd as PID 1 there is no journald; fake_journald.py stands in
for it, and the native journal protocol records that arrive there are
checked.
"""

import re
import signal
import socket
import sys
import unittest

from fake_journald import JournaledTestCase, can_fake_journald
from hellod_harness import HellodTestCase
from notify_receiver import NotifyReceiver

# systemd sets JOURNAL_STREAM to the device:inode of the stream it connects
# to stderr; this shim does the same for whatever stderr is, then execs hellod.
JOURNAL_STREAM_SHIM = ("import os, sys; st = os.fstat(2); "
                       "os.environ['JOURNAL_STREAM'] = f'{st.st_dev}:{st.st_ino}'; "
                       "os.execv(sys.argv[1], sys.argv[1:])")

# A logger line on stderr looks like "2024-01-01 10:00:00.000 hellod[42] info: ...".
LOGGER_LINE = re.compile(r"hellod\[\d+\] (trace|debug|info|warning|error|critical):")


class JournalTargetTest(HellodTestCase):
    def start_notified(self, config, **kwargs):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        env = {**notify.env, **kwargs.pop("env", {})}
        server = self.start(config, env=env, wait_ready=False, **kwargs)
        ready = notify.wait_key("READY")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", ready["STATUS"]).group(1))
        return server, notify, port

    def assert_serves(self, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertIn(b"200 OK", conn.recv(4096))

    def test_stderr_target_logs_to_stderr_even_under_the_journal(self):
        """log.target: stderr wins over a JOURNAL_STREAM that matches stderr."""
        server, _notify, port = self.start_notified(
            "log:\n  target: stderr\n", wrapper=[sys.executable, "-c", JOURNAL_STREAM_SHIM])
        self.assert_serves(port)
        server.wait_log(r"hellod\[\d+\] info: serving 127\.0\.0\.1:")

    def test_auto_without_journal_stream_logs_to_stderr(self):
        """log.target: auto (the default) with no JOURNAL_STREAM: stderr."""
        server, _notify, port = self.start_notified("")
        server.wait_log(r"hellod\[\d+\] info: serving 127\.0\.0\.1:")

    def test_auto_with_another_journal_stream_logs_to_stderr(self):
        """JOURNAL_STREAM naming some other stream (not our stderr): stderr."""
        server, _notify, _port = self.start_notified("", env={"JOURNAL_STREAM": "0:0"})
        server.wait_log(r"hellod\[\d+\] info: serving 127\.0\.0\.1:")

    def test_auto_with_journal_stream_on_stderr_leaves_stderr(self):
        """JOURNAL_STREAM = stderr's device:inode: the logger no longer writes lines to stderr.

        (With no journald here, the lines are lost; none may appear on stderr.)
        """
        server, notify, port = self.start_notified(
            "", wrapper=[sys.executable, "-c", JOURNAL_STREAM_SHIM])
        self.assert_serves(port)
        server.signal(signal.SIGHUP)  # more log lines: reloading, reloaded
        notify.wait_key("READY", count=2)
        self.assertEqual(server.stop(), 0)
        self.assertIsNone(LOGGER_LINE.search(server.log()), server.log())


@unittest.skipUnless(can_fake_journald(), "needs root and unshare -m for a stand-in journald")
class JournalSinkTest(JournaledTestCase):
    def check_records(self, server, notify):
        serving = self.journald.wait_record(r"^serving 127\.0\.0\.1:\d+ with 1 worker$")
        self.assertEqual(serving["PRIORITY"], "6")  # LOG_INFO
        self.assertEqual(serving["SYSLOG_IDENTIFIER"], "hellod")
        server.write_config('listen: ["127.0.0.1:0"]\nworkers: many\n')
        server.signal(signal.SIGHUP)
        notify.wait_key("READY", count=2)
        failed = self.journald.wait_record(
            r"^reload failed, still serving the previous configuration: "
            r"\S+hellod\.yaml:2:10: workers")
        self.assertEqual(failed["PRIORITY"], "3")  # LOG_ERR
        self.assertEqual(server.stop(), 0)
        self.assertIsNone(LOGGER_LINE.search(server.log()), server.log())

    def test_journal_target_sends_records_with_priority_and_identifier(self):
        """log.target: journal: records reach the journal socket with PRIORITY and
        SYSLOG_IDENTIFIER=hellod, and nothing is logged on stderr."""
        server, notify = self.start_journaled("log:\n  target: journal\n")
        self.check_records(server, notify)

    def test_auto_target_under_journal_stream_uses_the_journal(self):
        """log.target: auto with JOURNAL_STREAM = stderr: the journal, as under systemd."""
        server, notify = self.start_journaled(
            "", shim=[sys.executable, "-c", JOURNAL_STREAM_SHIM])
        self.check_records(server, notify)


if __name__ == "__main__":
    unittest.main()
