# SPDX-License-Identifier: MIT
"""The service-manager protocol (sd_notify(3)) as a test-owned NOTIFY_SOCKET sees it."""

import signal
import socket
import time
import unittest

from hellod_harness import HellodTestCase, listening_socket, read_response, socket_activation
from notify_receiver import NotifyReceiver


class NotifyTest(HellodTestCase):
    def receiver(self):
        receiver = NotifyReceiver()
        self.addCleanup(receiver.close)
        return receiver

    def test_ready_reload_stop_sequence(self):
        """FDSTORE=1 x2 -> READY=1 -> SIGHUP -> RELOADING=1 (+MONOTONIC_USEC) -> READY=1 ->
        SIGTERM -> STOPPING=1.

        Exactly these messages, in this order, all from hellod's own PID
        (the unit says NotifyAccess=main), with STATUS= naming what is served.
        Each worker's listening socket goes to the fd store before READY=1
        (test_fd_store.py tests the store itself).
        """
        notify = self.receiver()
        server = self.start("workers: 2\n", env=notify.env)
        ready = notify.wait_key("READY", "1")
        self.assertEqual(ready.get("STATUS"), f"serving 127.0.0.1:{server.port} with 2 workers")

        server.signal(signal.SIGHUP)
        reloaded = notify.wait_key("READY", "1", count=2)
        reloading = notify.wait_key("RELOADING", "1")
        monotonic_usec = int(reloading["MONOTONIC_USEC"])
        # CLOCK_MONOTONIC is what time.monotonic() reads on Linux.
        self.assertLess(abs(time.monotonic() * 1e6 - monotonic_usec), 1e6)
        self.assertEqual(reloaded.get("STATUS"),
                         f"reloaded; serving 127.0.0.1:{server.port} with 2 workers")

        self.assertEqual(server.stop(), 0)
        stopping = notify.wait_key("STOPPING", "1")
        self.assertEqual(stopping.get("STATUS"), "stopping: draining 0 connection(s)")

        messages = notify.all()
        self.assertEqual([sorted(m.fields) for m in messages],
                         [["FDNAME", "FDSTORE"], ["FDNAME", "FDSTORE"],
                          ["READY", "STATUS"], ["MONOTONIC_USEC", "RELOADING"],
                          ["READY", "STATUS"], ["STATUS", "STOPPING"]], messages)
        self.assertEqual([m.get("FDNAME") for m in messages[:2]],
                         ["hellod-0-127.0.0.1%3A0", "hellod-1-127.0.0.1%3A0"])
        self.assertEqual({m.pid for m in messages}, {server.proc.pid})

    def test_socket_activated_status_names_inherited_socket(self):
        """Under socket activation STATUS= names the inherited address."""
        notify = self.receiver()
        sock = listening_socket()
        self.addCleanup(sock.close)
        port = sock.getsockname()[1]
        kwargs = socket_activation([sock])
        kwargs["env"].update(notify.env)
        self.start("", **kwargs)
        ready = notify.wait_key("READY", "1")
        self.assertEqual(ready["STATUS"], f"serving 127.0.0.1:{port} with 1 worker (socket-activated)")

    def test_bad_config_at_start_sends_status_then_exits_1(self):
        """An invalid config: STATUS= carries file:line:col and the reason; exit 1; no READY."""
        notify = self.receiver()
        server = self.start("response:\n  status: abc\n", env=notify.env, wait_ready=False)
        self.assertEqual(server.proc.wait(10), 1)
        status = notify.wait_key("STATUS")["STATUS"]
        self.assertRegex(status, r"hellod\.yaml:3:11: response\.status: expected an integer")
        self.assertEqual(notify.with_key("READY"), [])

    def test_missing_config_file_sends_status_and_errno(self):
        """--config naming a missing file: STATUS= and ERRNO=2 (ENOENT), exit 1."""
        notify = self.receiver()
        server = self.start("", env=notify.env, wait_ready=False,
                            args=["--config", "/nonexistent/hellod.yaml"])
        self.assertEqual(server.proc.wait(10), 1)
        message = notify.wait_key("STATUS")
        self.assertIn("/nonexistent/hellod.yaml", message["STATUS"])
        self.assertEqual(message.get("ERRNO"), "2")

    def test_bind_error_sends_status_and_errno(self):
        """A port already in use: STATUS= names it, ERRNO=98 (EADDRINUSE), exit 1."""
        taken = listening_socket()
        self.addCleanup(taken.close)
        port = taken.getsockname()[1]
        notify = self.receiver()
        server = self.start(f'listen: ["127.0.0.1:{port}"]\n', env=notify.env, wait_ready=False)
        self.assertEqual(server.proc.wait(10), 1)
        message = notify.wait_key("STATUS")
        self.assertRegex(message["STATUS"], rf"127\.0\.0\.1:{port}: Address already in use")
        self.assertEqual(message.get("ERRNO"), "98")
        self.assertEqual(notify.with_key("READY"), [])

    def test_bad_inherited_socket_sends_status_and_errno(self):
        """A UDP socket passed by the manager: STATUS= explains, ERRNO=88 (ENOTSOCK), exit 1."""
        udp = listening_socket(kind=socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        notify = self.receiver()
        kwargs = socket_activation([udp])
        kwargs["env"].update(notify.env)
        server = self.start("", wait_ready=False, **kwargs)
        self.assertEqual(server.proc.wait(10), 1)
        message = notify.wait_key("STATUS")
        self.assertRegex(message["STATUS"], r"not a listening TCP or unix stream socket")
        self.assertEqual(message.get("ERRNO"), "88")

    def test_long_drain_extends_the_stop_timeout(self):
        """While a drain makes progress, EXTEND_TIMEOUT_USEC= is sent with a progress STATUS=."""
        notify = self.receiver()
        server = self.start("timeouts:\n  shutdown: 20s\n", env=notify.env)
        notify.wait_key("READY")
        # Two connections each leave a request head unfinished, so the drain
        # cannot end at once. One full exchange each first, so both are
        # accepted before SIGTERM closes the listener.
        first = server.connect()
        self.addCleanup(first.close)
        second = server.connect()
        self.addCleanup(second.close)
        for conn in (first, second):
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_response(conn)[0], 200)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # head not finished
        time_started = time.monotonic()
        server.signal(signal.SIGTERM)
        notify.wait_key("STOPPING", "1")
        # Finishing one request is progress while the other still holds the
        # drain open: hellod asks for more time.
        first.sendall(b"\r\n")
        self.assertEqual(read_response(first)[2], b"Hello, World!\n")
        extend = notify.wait_key("EXTEND_TIMEOUT_USEC", timeout=10)
        self.assertGreater(int(extend["EXTEND_TIMEOUT_USEC"]), 0)
        second.sendall(b"\r\n")
        self.assertEqual(read_response(second)[0], 200)
        self.assertEqual(server.proc.wait(15), 0)
        self.assertLess(time.monotonic() - time_started, 15)

if __name__ == "__main__":
    unittest.main()
