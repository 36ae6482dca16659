# SPDX-License-Identifier: MIT
"""A test-owned service-manager end of the sd_notify protocol (sd_notify(3)).

NotifyReceiver binds an AF_UNIX datagram socket to a unique abstract name;
pass `receiver.env` to hellod so its sd_notify() calls land here. Every
datagram is parsed into a dict of its KEY=VALUE lines and kept, in order,
with the sender's credentials (SO_PASSCRED) and the arrival time. Any file
descriptors that arrive (systemd-notify sends one with BARRIER=1) are closed,
unless the receiver was asked to act as systemd's file descriptor store
(fd_store=True): then FDSTORE=1 keeps them under their FDNAME= and
FDSTOREREMOVE=1 closes them, as systemd does (sd_notify(3)), and
store_sockets() hands them back to pass to a new process.
"""

import array
import os
import re
import socket
import struct
import threading
import time
import uuid

from hellod_harness import wait_for

_UCRED = struct.Struct("iII")  # pid, uid, gid
# What systemd accepts as FDNAME= (fdname_is_valid()); others become "stored".
_FDNAME = re.compile(r"[\x20-\x39\x3b-\x7e]{0,255}")


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

    def __init__(self, fd_store=False):
        self.fd_store = fd_store
        self.stored = []  # (name, fd) in the order systemd would pass them
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
            fds = array.array("i")
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _UCRED.unpack(payload[:_UCRED.size])[0]
                elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fd_size])
            message = Message(data.decode(errors="replace"), pid, time.monotonic())
            with self._lock:
                if self.fd_store:
                    self._keep(message, list(fds))
                else:
                    for fd in fds:
                        os.close(fd)
                self.messages.append(message)

    def _keep(self, message, fds):
        """systemd's fd store: FDSTORE=1 adds (once per socket), FDSTOREREMOVE=1 closes."""
        name = message.get("FDNAME", "stored")
        if not _FDNAME.fullmatch(name):
            name = "stored"
        if message.get("FDSTOREREMOVE") == "1":
            for _, fd in (entry for entry in self.stored if entry[0] == name):
                os.close(fd)
            self.stored = [entry for entry in self.stored if entry[0] != name]
        if message.get("FDSTORE") != "1":
            for fd in fds:
                os.close(fd)
            return
        for fd in fds:
            same = os.fstat(fd)
            if any((os.fstat(kept).st_dev, os.fstat(kept).st_ino) == (same.st_dev, same.st_ino)
                   for _, kept in self.stored):
                os.close(fd)  # systemd keeps a socket once
            else:
                self.stored.append((name, fd))

    def store_names(self):
        with self._lock:
            return [name for name, _ in self.stored]

    def store_sockets(self):
        """Copies of the stored sockets as (names, sockets), to pass to a new
        process with hellod_harness.socket_activation(sockets, names); the
        store keeps its own. Close the copies once the process holds them."""
        with self._lock:
            return ([name for name, _ in self.stored],
                    [socket.socket(fileno=os.dup(fd)) for _, fd in self.stored])

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
        """Stops receiving and closes the store, as systemd does at a stop."""
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        with self._lock:
            for _, fd in self.stored:
                os.close(fd)
            self.stored = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
