# SPDX-License-Identifier: MIT
"""Where log lines go: stderr, or the journal when stderr is the journal's
stream (JOURNAL_STREAM, systemd.exec(5)) or log.target says so.

Without systemd as PID 1 there is no journald; one test stands in for it: in
a private mount namespace (unshare -m) a test-owned datagram socket is bind-
mounted on /run/systemd/journal/socket, where sd_journal_send(3) writes, and
the native journal protocol records that arrive there are checked.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

from hellod_harness import HellodTestCase, wait_for
from notify_receiver import NotifyReceiver

# systemd sets JOURNAL_STREAM to the device:inode of the stream it connects
# to stderr; this shim does the same for whatever stderr is, then execs hellod.
JOURNAL_STREAM_SHIM = ("import os, sys; st = os.fstat(2); "
                       "os.environ['JOURNAL_STREAM'] = f'{st.st_dev}:{st.st_ino}'; "
                       "os.execv(sys.argv[1], sys.argv[1:])")

# A logger line on stderr looks like "2024-01-01 10:00:00.000 hellod[42] info: ...".
LOGGER_LINE = re.compile(r"hellod\[\d+\] (trace|debug|info|warning|error|critical):")


def parse_journal_record(data):
    """Parses one native-protocol datagram (KEY=VALUE lines, or KEY\\n<le64 size><bytes>\\n)."""
    fields = {}
    while data:
        newline = data.index(b"\n")
        line, data = data[:newline], data[newline + 1:]
        if b"=" in line:
            key, value = line.split(b"=", 1)
        else:
            (size,) = struct.unpack("<Q", data[:8])
            key, value, data = line, data[8:8 + size], data[8 + size + 1:]
        fields[key.decode()] = value.decode(errors="replace")
    return fields


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

        (With no journald here, spdlog may report its own failed sends; no
        hellod log line may appear.)
        """
        server, notify, port = self.start_notified(
            "", wrapper=[sys.executable, "-c", JOURNAL_STREAM_SHIM])
        self.assert_serves(port)
        server.signal(signal.SIGHUP)  # more log lines: reloading, reloaded
        notify.wait_key("READY", count=2)
        self.assertEqual(server.stop(), 0)
        self.assertIsNone(LOGGER_LINE.search(server.log()), server.log())


def can_fake_journald():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


# In a private mount namespace: a fresh /run holding only the journal socket,
# which is the test's socket bind-mounted. argv: SOCKET_PATH CMD...
FAKE_JOURNALD = ('mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
                 ': > /run/systemd/journal/socket && '
                 'mount --bind "$0" /run/systemd/journal/socket && exec "$@"')


@unittest.skipUnless(can_fake_journald(), "needs root and unshare -m for a stand-in journald")
class JournalSinkTest(HellodTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hellod-journal-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "journal.socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.records = []
        self.done = threading.Event()
        self.addCleanup(self.done.set)
        self.thread = threading.Thread(target=self.receive, daemon=True)
        self.thread.start()

    def receive(self):
        while not self.done.is_set():
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(64))
            except socket.timeout:
                continue
            except OSError:
                return
            for level, kind, payload in ancillary:  # large entries come as a memfd
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for fd in struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4]):
                        os.close(fd)
            self.records.append(parse_journal_record(data))

    def wait_record(self, message_pattern):
        return wait_for(lambda: next((r for r in self.records
                                      if re.search(message_pattern, r.get("MESSAGE", ""))), None),
                        10, what=f"journal record /{message_pattern}/; got {self.records}")

    def start_journaled(self, config, shim=()):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        wrapper = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", FAKE_JOURNALD,
                   self.path, *shim]
        server = self.start(config, env=notify.env, wait_ready=False, wrapper=wrapper)
        notify.wait_key("READY")
        return server, notify

    def check_records(self, server, notify):
        serving = self.wait_record(r"^serving 127\.0\.0\.1:\d+ with 1 worker$")
        self.assertEqual(serving["PRIORITY"], "6")  # LOG_INFO
        self.assertEqual(serving["SYSLOG_IDENTIFIER"], "hellod")
        server.write_config('listen: ["127.0.0.1:0"]\nworkers: many\n')
        server.signal(signal.SIGHUP)
        notify.wait_key("READY", count=2)
        failed = self.wait_record(r"^reload failed, still serving the previous configuration: "
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
