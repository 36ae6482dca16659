# SPDX-License-Identifier: MIT
"""A stand-in for journald's native socket, for tests without systemd as PID 1.

In a private mount namespace (unshare -m) a test-owned datagram socket is
bind-mounted on /run/systemd/journal/socket, where hellod sends its journal
entries; a thread parses the native-protocol entries that arrive into
records. pause() stalls it the way a busy or hung journald stalls: it stops
reading and its queue fills, so a sender's next entry waits.
"""

import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading

from hellod_harness import HellodTestCase, wait_for
from notify_receiver import NotifyReceiver

# argv: SOCKET_PATH CMD...: a fresh /run holding only the journal socket.
_BIND_MOUNT = ('mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
               ': > /run/systemd/journal/socket && '
               'mount --bind "$0" /run/systemd/journal/socket && exec "$@"')

# The entries pause() queues itself carry this field; records leave them out.
_FILLER = b"TEST_FILLER=1\n"


def can_fake_journald():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


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


class FakeJournald:
    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix="hellod-journal-")
        self.path = os.path.join(self._dir, "journal.socket")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self.records = []
        self._done = threading.Event()
        self._reading = threading.Event()
        self._reading.set()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def wrapper(self, *shim):
        """The command prefix that runs hellod (after `shim`, if any) with
        this socket as /run/systemd/journal/socket."""
        return ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", _BIND_MOUNT,
                self.path, *shim]

    def _receive(self):
        while not self._done.is_set():
            if not self._reading.is_set():
                self._paused.set()
                self._reading.wait()
                self._paused.clear()
                continue
            try:
                data, ancillary, _flags, _addr = self._sock.recvmsg(1 << 20, socket.CMSG_SPACE(64))
            except socket.timeout:
                continue
            except OSError:
                return
            for level, kind, payload in ancillary:  # large entries come as a memfd
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for fd in struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4]):
                        # From the start: the sender's writes left the offset at the end.
                        data = os.pread(fd, os.fstat(fd).st_size, 0)
                        os.close(fd)
            if data != _FILLER:
                self.records.append(parse_journal_record(data))

    def wait_record(self, message_pattern, timeout=10):
        return wait_for(lambda: next((r for r in self.records
                                      if re.search(message_pattern, r.get("MESSAGE", ""))), None),
                        timeout, what=f"journal record /{message_pattern}/; got {self.records}")

    def matching(self, message_pattern):
        return [r for r in self.records if re.search(message_pattern, r.get("MESSAGE", ""))]

    def pause(self):
        """Stops reading, then fills the queue with entries of its own until
        it takes no more: from then on every sender's next entry waits.

        A socket's own send buffer may fill before the queue does
        (net.unix.max_dgram_qlen is 10 by default, 512 under systemd), so
        fresh sockets send until the first entry of one is refused."""
        self._reading.clear()
        self._paused.wait(5)
        for _ in range(64):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler:
                filler.setblocking(False)
                sent = 0
                with contextlib.suppress(BlockingIOError):
                    for sent in range(1 << 16):
                        filler.sendto(_FILLER, self.path)
                if sent == 0:
                    return
        raise AssertionError("the stand-in journald's queue never filled")

    def resume(self):
        self._reading.set()

    def close(self):
        self._done.set()
        self._reading.set()
        self._thread.join(5)
        self._sock.close()
        shutil.rmtree(self._dir, True)


class JournaledTestCase(HellodTestCase):
    """A test case whose hellod logs to a FakeJournald, self.journald."""

    def setUp(self):
        super().setUp()
        self.journald = FakeJournald()
        self.addCleanup(self.journald.close)

    def start_journaled(self, config, shim=()):
        """hellod under the stand-in journald, once it is READY; returns it
        and its notify receiver. Its stderr has no lines, so its addresses
        come from READY's STATUS."""
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start(config, env=notify.env, wait_ready=False,
                            wrapper=self.journald.wrapper(*shim))
        server.addresses = re.findall(r"127\.0\.0\.1:\d+", notify.wait_key("READY")["STATUS"])
        return server, notify
