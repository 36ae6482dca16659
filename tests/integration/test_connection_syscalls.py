# SPDX-License-Identifier: MIT
"""The system calls a connection costs the worker, seen by strace on the
running server (issue 13): a one-shot connection is accept4, recv, send and
close, and nothing registers it anywhere; a kept-alive connection adds to
that only its wait in the worker's epoll set."""

import re
import socket
import unittest

from hellod_harness import (HellodTestCase, listening_socket, read_response, recv_until_close,
                            socket_activation, wait_for)

# Every call that could touch a connection's descriptor.
TRACED = ("accept,accept4,read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,sendfile,"
          "close,shutdown,epoll_ctl,ioctl,fcntl,setsockopt,getsockopt,getpeername")
CALL = re.compile(r"^\d+\s+(\w+)\((.*)\)\s+= (-?\d+)")


def complete_lines(text):
    """strace -f lines with each call split by another thread's ("<unfinished
    ...>", then "<... NAME resumed>") joined again."""
    pending, lines = {}, []
    for line in text.splitlines():
        pid, _, rest = line.partition(" ")
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest.removesuffix("<unfinished ...>")
        elif (resumed := re.match(r"\s*<\.\.\. \w+ resumed>(.*)", rest)) and pid in pending:
            lines.append(f"{pid} {pending.pop(pid)}{resumed.group(1)}")
        else:
            lines.append(line)
    return lines


def connection_calls(text):
    """[(call, arguments, result)] of the first connection hellod accepted,
    from the accept4 that returned its descriptor to the close of it."""
    calls, fd = [], None
    for line in complete_lines(text):
        match = CALL.match(line.strip())
        if match is None:
            continue
        name, args, result = match.group(1), match.group(2), int(match.group(3))
        if fd is None:
            if name == "accept4" and result >= 0:
                fd = result
            continue
        touches = re.match(rf"{fd}\b", args) or re.match(rf"\d+, EPOLL_CTL_\w+, {fd}\b", args)
        if touches:
            calls.append((name, args, result))
            if name == "close":
                return calls
    raise AssertionError(f"no accepted connection closed in the trace:\n{text}")


class ConnectionSyscallsTest(HellodTestCase):
    def setUp(self):
        self.server = self.start("workers: 1\n")
        self.strace = self.trace(self.server, TRACED)

    def calls_until_closed(self):
        wait_for(lambda: re.search(r"\bclose\(\d+\)\s+= 0", self.strace.text()),
                 what="strace to record hellod closing the connection")
        self.strace.detach()
        return connection_calls(self.strace.text())

    def test_a_one_shot_connection_is_read_answered_and_closed(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
            self.assertTrue(recv_until_close(sock).startswith(b"HTTP/1.1 200 OK\r\n"))
        calls = self.calls_until_closed()
        self.assertEqual([name for name, _, _ in calls], ["recvfrom", "sendto", "close"], calls)

    def test_a_kept_alive_connection_adds_only_its_wait_in_epoll(self):
        """Waiting for the next request costs one EPOLL_CTL_ADD. No setsockopt:
        TCP_NODELAY comes from the listener. No ioctl: the accepted socket is
        non-blocking already, and the descriptor goes to a libuv stream (whose
        uv_tcp_open sets it again) only for a write that waits or a shutdown.
        No EPOLL_CTL_DEL: close(2) takes the descriptor out of the set."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            self.assertEqual(read_response(sock)[0], 200)
            # Closed once hellod waits for the next request in its epoll set.
            wait_for(lambda: "EPOLL_CTL_ADD" in self.strace.text(),
                     what="hellod to wait for the next request")
        calls = self.calls_until_closed()
        self.assertEqual([(name, result) for name, _, result in calls][-2:], [("recvfrom", 0),
                                                                              ("close", 0)], calls)
        self.assertEqual([name for name, _, _ in calls],
                         ["recvfrom", "sendto", "epoll_ctl", "recvfrom", "close"], calls)
        self.assertIn("EPOLL_CTL_ADD", calls[2][1], calls)


class ListenerOptionsTest(HellodTestCase):
    def test_an_activated_listener_gets_tcp_nodelay_for_its_connections(self):
        """A kept-alive connection's response may follow one the client has not
        acknowledged yet, which Nagle's algorithm would hold back. Linux copies
        TCP_NODELAY from the listener to each socket accepted from it, so hellod
        sets it there; the test's own copy of the passed socket shows it."""
        sock = listening_socket()
        self.addCleanup(sock.close)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 0)
        activation = socket_activation([sock])
        server = self.start("workers: 1\n", listen=False, **activation)
        with socket.create_connection(sock.getsockname(), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            self.assertEqual(read_response(client)[0], 200)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1, server.log())


if __name__ == "__main__":
    unittest.main()
