# SPDX-License-Identifier: MIT
"""A stderr that stops taking lines must not stop hellod.

stderr is often a stream that another process drains: a pipe to a log
shipper, a container runtime's log driver, journald's stream socket. When
that process stalls, the stream fills and a blocking write waits for as long
as it stalls. hellod keeps serving, reloading and stopping meanwhile: its
own lines wait a moment and are then dropped (and counted, once the stream
takes lines again); its access records are dropped by the queues (counted in
hellod_access_log_dropped_total); and a stop writes what the stream takes
before it ends, then gives up.

The test gives hellod a small pipe, or a Unix stream socket with a small send
buffer, and copies what arrives to the log file until it is told to stop
reading.
"""

import contextlib
import fcntl
import os
import platform
import select
import socket
import threading
import unittest

from hellod_harness import STOP_TIMEOUT, HellodTestCase, recv_until_close

CONFIG = """listen: ["127.0.0.1:0"]
workers: 2
log: {access: text, target: stderr}
response: {body: "BODY\\n"}
"""

SMALL_BUFFER = 4096
PIPELINED = 2000  # requests per filling round
MAX_ROUNDS = 200  # bound on the filling loop


class StderrTap:
    """hellod's stderr stream; a thread copies what arrives to the log file
    until pause(), and again after resume()."""

    def __init__(self, kind):
        if kind == "pipe":
            self._read_end, self.child_end = os.pipe()
            fcntl.fcntl(self.child_end, fcntl.F_SETPIPE_SZ, SMALL_BUFFER)
            # A writer of the test's own, non-blocking without making
            # hellod's descriptor so (it is a new open file description).
            self._jam_end = os.open(f"/proc/self/fd/{self.child_end}",
                                    os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        else:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            self._read_end, self.child_end = ours.detach(), theirs.detach()
            self._jam_end = None  # a full socket takes no more, however short
        self._log_path = None
        self._reading = threading.Event()
        self._reading.set()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._copy, daemon=True)

    def start(self, log_path):
        """Once hellod has its copy of child_end: ours is closed, so the
        thread ends when hellod does."""
        os.close(self.child_end)
        self._log_path = log_path
        self._thread.start()

    def _copy(self):
        with open(self._log_path, "ab", buffering=0) as log:
            while True:
                if not self._reading.is_set():
                    self._paused.set()
                    self._reading.wait()
                    self._paused.clear()
                ready, _, _ = select.select([self._read_end], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self._read_end, 65536)
                if not data:
                    os.close(self._read_end)
                    return
                log.write(data)

    def pause(self):
        self._reading.clear()
        self._paused.wait(5)

    def jam(self):
        """Fills what a stalled writer left of a pipe's page: Linux merges a
        short write into the last page, so a pipe that refused the logger's
        64 KiB may still take a line."""
        if self._jam_end is None:
            return
        with contextlib.suppress(BlockingIOError):
            for _ in range(SMALL_BUFFER):
                os.write(self._jam_end, b"\n")

    def resume(self):
        self._reading.set()

    def close(self):
        """Reads to the end: hellod's copy of the stream is closed once it exits."""
        if self._jam_end is not None:
            os.close(self._jam_end)
        self.resume()
        self._thread.join(STOP_TIMEOUT)


def pipelined_round(port):
    """PIPELINED requests on one connection, the last asking for the close;
    returns how many were answered."""
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request * (PIPELINED - 1) + last)
        return recv_until_close(sock).count(b"HTTP/1.1 200 ")


def logger_waits_for_its_stream(pid):
    """True when hellod's logger thread waits in poll(2) (or ppoll), which
    it calls only to wait for a full stream to take more, or is held in a
    blocking write(2) (as it was before hellod wrote stderr non-blocking)."""
    waiting_calls = {"1", "7", "20", "271"}  # x86_64: write, poll, writev, ppoll
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/comm") as f:
            if f.read().strip() != "hellod-logger":
                continue
        with open(f"/proc/{pid}/task/{task}/syscall") as f:
            return f.read().split()[0] in waiting_calls
    raise AssertionError(f"no hellod-logger thread in process {pid}")


class StalledStderr:
    """The tests, for either kind of stream (a subclass sets `kind`)."""

    kind = None

    def start_with_tap(self):
        tap = StderrTap(self.kind)
        self.addCleanup(tap.close)  # after hellod is stopped (cleanups run last-in first-out)
        server = self.start(CONFIG, stderr=tap.child_end, wait_ready=False)
        tap.start(server.log_path)
        server.wait_ready()
        return server, tap

    def stall(self, server, tap):
        """Stops reading, then requests until hellod's logger thread waits
        for the stream to take its records: by then the stream is full, and
        every write to it waits."""
        tap.pause()
        for _ in range(MAX_ROUNDS):
            self.assertEqual(pipelined_round(server.port), PIPELINED)
            if logger_waits_for_its_stream(server.proc.pid):
                tap.jam()
                return
        self.fail(f"the logger did not wait for stderr after {MAX_ROUNDS * PIPELINED} requests")

    def reload_to(self, server, body):
        server.reload_until_served(CONFIG.replace("BODY", body), f"{body}\n".encode())

    def test_it_serves_and_reloads_while_nobody_reads_stderr(self):
        server, tap = self.start_with_tap()
        self.stall(server, tap)
        self.assertEqual(server.get_body(), b"BODY\n")
        self.reload_to(server, "AGAIN")
        self.reload_to(server, "THIRD")

    def test_a_stop_ends_while_nobody_reads_stderr(self):
        server, tap = self.start_with_tap()
        self.stall(server, tap)
        self.assertEqual(server.stop(), 0)  # fails after STOP_TIMEOUT

    def test_lines_it_dropped_are_counted_once_stderr_flows_again(self):
        server, tap = self.start_with_tap()
        self.stall(server, tap)
        self.reload_to(server, "UNSEEN")  # its lines wait a moment, then go
        tap.resume()
        self.reload_to(server, "SEEN")
        line = server.wait_log(r"warning: (\d+) log line\(s\) dropped because stderr was not "
                               r"taking them", timeout=10)
        self.assertGreater(int(line.group(1)), 0)
        server.wait_log(r"info: reloading ", timeout=10)
        self.assertEqual(server.log().count("info: reloading "), 1, "UNSEEN's line was dropped")
        # The access log waited for the stream all along: its records flow too.
        server.get_body("/after-the-stall")
        server.wait_log(r'"GET /after-the-stall HTTP/1.1" 200 ', timeout=10)
        self.assertEqual(server.stop(), 0)


ON_X86_64 = (unittest.skipUnless(platform.machine() == "x86_64",
                                 "logger_waits_for_its_stream knows x86_64's numbers"))


@ON_X86_64
class PipeTest(StalledStderr, HellodTestCase):
    kind = "pipe"


@ON_X86_64
class SocketTest(StalledStderr, HellodTestCase):
    kind = "socket"


if __name__ == "__main__":
    unittest.main()
