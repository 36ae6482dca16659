# SPDX-License-Identifier: MIT
"""A test-owned service-manager end of the sd_notify protocol (sd_notify(3)).

NotifyReceiver binds an AF_UNIX datagram socket to a unique abstract name;
pass `receiver.env` to hellod so its sd_notify() calls land here. Every
datagram is parsed into a dict of its KEY=VALUE lines and kept, in order,
with the sender's credentials (SO_PASSCRED) and the arrival time. Any file
descriptors that arrive (systemd-notify sends one with BARRIER=1) are closed.
"""

import array
import os
import socket
import struct
import threading
import time
import uuid

from hellod_harness import wait_for

_UCRED = struct.Struct("iII")  # pid, uid, gid


class Message:
    """One notification: fields (dict), raw text, sender pid and arrival time."""

    def __init__(self, text, pid, received):
        self.text = text
        self.fields = {}
        for line in text.split("\n"):
            if "=" in line:
                key, value = line.split("=", 1)
                self.fields[key] = value
        self.pid = pid
        self.received = received  # time.monotonic() on arrival

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)

    def __contains__(self, key):
        return key in self.fields

    def __repr__(self):
        return f"Message(pid={self.pid}, {self.text!r})"


class NotifyReceiver:
    """Collects sd_notify datagrams on a background thread until closed."""

    def __init__(self):
        self.name = f"hellod-test-notify-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind("\0" + self.name)
        self.sock.settimeout(0.1)
        self.messages = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def env(self):
        """The environment that points sd_notify() at this receiver."""
        return {"NOTIFY_SOCKET": "@" + self.name}

    def _run(self):
        fd_size = array.array("i").itemsize
        space = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(16 * fd_size)
        while not self._stop.is_set():
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(65536, space)
            except socket.timeout:
                continue
            except OSError:
                return
            pid = None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _UCRED.unpack(payload[:_UCRED.size])[0]
                elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[:len(payload) - len(payload) % fd_size])
                    for fd in fds:
                        os.close(fd)
            message = Message(data.decode(errors="replace"), pid, time.monotonic())
            with self._lock:
                self.messages.append(message)

    def all(self):
        with self._lock:
            return list(self.messages)

    def with_key(self, key):
        return [m for m in self.all() if key in m]

    def wait_count(self, count, timeout=10.0):
        """Waits until at least `count` messages arrived; returns them all."""
        return wait_for(lambda: (lambda ms: ms if len(ms) >= count else None)(self.all()),
                        timeout, what=f"{count} notify message(s); got {self.all()}")

    def wait_key(self, key, value=None, count=1, timeout=10.0):
        """Waits for the count-th message carrying key (with value, when given)."""
        def found():
            matches = [m for m in self.all()
                       if key in m and (value is None or m[key] == value)]
            return matches[count - 1] if len(matches) >= count else None
        return wait_for(found, timeout,
                        what=f"notify message #{count} with {key}={value}; got {self.all()}")

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
