# SPDX-License-Identifier: MIT
"""Socket activation (sd_listen_fds(3)): hellod serves the sockets it inherits.

Most tests bind the socket themselves and pass it on fd 3 with LISTEN_FDS,
LISTEN_FDNAMES and LISTEN_PID, as systemd does (hellod_harness.socket_activation);
two go through systemd's own `systemd-socket-activate` tool.
"""

import os
import shutil
import signal
import socket
import tempfile
import unittest

from hellod_harness import (HellodTestCase, has_test_hooks, listening_socket, read_response,
                            socket_activation)

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
BODY_CONFIG = 'response:\n  body: "activated\\n"\n'


def get_body(family, address, timeout=5.0):
    """One GET on a new connection; returns the body."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(REQUEST)
        status, _headers, body, _rest = read_response(sock)
        if status != 200:
            raise AssertionError(f"status {status}")
        return body


def free_port():
    """A port that was free a moment ago, for tools that only take a port number."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class InheritedSocketTest(HellodTestCase):
    """Sockets passed on fd 3, 4, ... by the test itself."""

    def activated(self, sockets, config=BODY_CONFIG, **kwargs):
        kwargs = {**socket_activation(sockets), **kwargs}
        server = self.start(config, **kwargs)
        for sock in sockets:
            sock.close()  # hellod holds its own copy now
        return server

    def own_socket(self, *args, **kwargs):
        sock = listening_socket(*args, **kwargs)
        self.addCleanup(sock.close)
        return sock

    def test_serves_the_inherited_socket_and_ignores_listen(self):
        """One inherited IPv4 socket is served; the config's listen: is not bound."""
        sock = self.own_socket()
        address = sock.getsockname()
        server = self.activated([sock])
        self.assertEqual(get_body(socket.AF_INET, address), b"activated\n")
        log = server.log()
        self.assertIn("listen: in the config is ignored", log)
        self.assertNotIn("listening on", log)
        self.assertRegex(log, rf"serving 127\.0\.0\.1:{address[1]} with 1 worker \(socket-activated\)")
        self.assertEqual(server.stop(), 0)

    def test_serves_two_inherited_sockets(self):
        """Both of two inherited sockets are served."""
        first, second = self.own_socket(), self.own_socket()
        addresses = [first.getsockname(), second.getsockname()]
        server = self.activated([first, second])
        for address in addresses:
            self.assertEqual(get_body(socket.AF_INET, address), b"activated\n")
        self.assertEqual(server.stop(), 0)

    def test_serves_ipv6_and_unix_inherited_sockets(self):
        """An IPv6 TCP socket and a unix stream socket are both served."""
        v6 = self.own_socket(socket.AF_INET6, ("::1", 0))
        unix_dir = self.tmpdir()
        unix_path = os.path.join(unix_dir, "hellod.sock")
        unix = self.own_socket(socket.AF_UNIX, unix_path)
        v6_address = v6.getsockname()[:2]
        server = self.activated([v6, unix])
        self.assertEqual(get_body(socket.AF_INET6, v6_address), b"activated\n")
        self.assertEqual(get_body(socket.AF_UNIX, unix_path), b"activated\n")
        self.assertIn(f"unix:{unix_path}", server.log())
        self.assertEqual(server.stop(), 0)

    @unittest.skipUnless(has_test_hooks(), "needs a -DHELLOD_TEST_HOOKS=ON build")
    def test_every_worker_serves_the_inherited_socket(self):
        """With workers: 2, either worker alone serves the inherited socket.

        A test-build hook blocks one worker's loop (SIGUSR1: worker 0, SIGUSR2:
        worker 1); requests must still be answered, by the other worker.
        """
        for signum, blocked in ((signal.SIGUSR1, 0), (signal.SIGUSR2, 1)):
            with self.subTest(blocked_worker=blocked):
                sock = self.own_socket()
                address = sock.getsockname()
                server = self.activated([sock], BODY_CONFIG + "workers: 2\n")
                self.assertIn("with 2 workers", server.log())
                server.signal(signum)
                server.wait_log(rf"test hook: worker {blocked} blocked")
                for _ in range(20):
                    self.assertEqual(get_body(socket.AF_INET, address, timeout=3), b"activated\n")
                server.close()  # SIGKILL: a graceful stop would wait for the blocked loop

    def test_udp_inherited_socket_is_refused(self):
        """A datagram socket is not servable: clear error, exit 1."""
        sock = self.own_socket(kind=socket.SOCK_DGRAM)
        server = self.activated([sock], wait_ready=False)
        self.assertEqual(server.proc.wait(10), 1)
        self.assertRegex(server.log(), r"inherited file descriptor 3 \(http\) is not a listening "
                                       r"TCP or unix stream socket")

    def test_non_listening_inherited_socket_is_refused(self):
        """A bound TCP socket that is not listening is refused too, even next to a good one."""
        good = self.own_socket()
        bad = socket.socket()
        self.addCleanup(bad.close)
        bad.bind(("127.0.0.1", 0))
        server = self.activated([good, bad], wait_ready=False)
        self.assertEqual(server.proc.wait(10), 1)
        self.assertRegex(server.log(), r"inherited file descriptor 4 \(http\) is not a listening")

    def tmpdir(self):
        path = tempfile.mkdtemp(prefix="hellod-unix-")
        self.addCleanup(shutil.rmtree, path, True)
        return path


@unittest.skipUnless(shutil.which("systemd-socket-activate"), "systemd-socket-activate not installed")
class SystemdSocketActivateTest(HellodTestCase):
    """The same through systemd's own tool, as hellod.socket would pass them."""

    def tool(self, *args):
        return ["systemd-socket-activate", *args]

    def test_serves_under_systemd_socket_activate(self):
        """systemd-socket-activate -l 127.0.0.1:PORT --fdname=http hellod: served."""
        port = free_port()
        server = self.start(BODY_CONFIG, wait_ready=False,
                            wrapper=self.tool("-l", f"127.0.0.1:{port}", "--fdname=http"))
        server.wait_log(rf"Listening on 127\.0\.0\.1:{port}")
        # The tool execs hellod only once the first client connects.
        self.assertEqual(get_body(socket.AF_INET, ("127.0.0.1", port)), b"activated\n")
        server.wait_ready()
        self.assertIn("socket-activated", server.log())
        self.assertEqual(get_body(socket.AF_INET, ("127.0.0.1", port)), b"activated\n")
        self.assertEqual(server.stop(), 0)

    def test_serves_two_sockets_under_systemd_socket_activate(self):
        """Two -l sockets: both served."""
        ports = [free_port(), free_port()]
        server = self.start(BODY_CONFIG, wait_ready=False, wrapper=self.tool(
            "-l", f"127.0.0.1:{ports[0]}", "-l", f"127.0.0.1:{ports[1]}", "--fdname=http:http"))
        server.wait_log(rf"Listening on 127\.0\.0\.1:{ports[1]}")
        for port in ports:
            self.assertEqual(get_body(socket.AF_INET, ("127.0.0.1", port)), b"activated\n")
        server.wait_ready()
        self.assertRegex(server.log(), rf"serving 127\.0\.0\.1:{ports[0]}, 127\.0\.0\.1:{ports[1]}")
        self.assertEqual(server.stop(), 0)

    def test_datagram_socket_is_refused(self):
        """--datagram hands hellod a UDP socket: refused with exit 1."""
        port = free_port()
        server = self.start(BODY_CONFIG, wait_ready=False, wrapper=self.tool(
            "--datagram", "-l", f"127.0.0.1:{port}", "--fdname=http"))
        server.wait_log(rf"Listening on 127\.0\.0\.1:{port}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"wake up", ("127.0.0.1", port))  # the tool execs on the first datagram
        self.assertEqual(server.proc.wait(10), 1)
        self.assertIn("is not a listening TCP or unix stream socket", server.log())


if __name__ == "__main__":
    unittest.main()
