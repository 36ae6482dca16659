# SPDX-License-Identifier: MIT
"""The system calls a connection costs the worker, seen by strace on the
running server (issue 13): a one-shot connection is accept4, recv, send and
close, and nothing registers it anywhere; a kept-alive connection adds to
that only its wait in the worker's epoll set."""

import os
import re
import signal
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
            pending[pid] = rest.removesuffix("<unfinished ...>").rstrip()
        elif (resumed := re.match(r"\s*<\.\.\. \w+ resumed>(.*)", rest)) and pid in pending:
            lines.append(f"{pid} {pending.pop(pid)}{resumed.group(1)}")
        else:
            lines.append(line)
    return lines


def closed_a_descriptor(trace):
    """Whether strace has recorded hellod closing a descriptor. On the joined
    lines: a close another thread's call interrupted is split in two."""
    return any(re.search(r"\bclose\(\d+\)\s+= 0", line) for line in complete_lines(trace.text()))


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
        wait_for(lambda: closed_a_descriptor(self.strace),
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


def keep_alive_request(sock, path):
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: test\r\n\r\n" % path.encode())
    return read_response(sock)[0]


def hellod_descriptor(server, client):
    """The descriptor hellod holds for its end of client's connection, or
    None: the socket whose /proc/net/tcp row has client's 127.0.0.1 port as
    its remote end, among hellod's /proc/PID/fd links."""
    remote = "0100007F:%04X" % client.getsockname()[1]
    with open("/proc/net/tcp", encoding="ascii") as table:
        inodes = {fields[9] for fields in map(str.split, table) if fields[2] == remote}
    fd_dir = f"/proc/{server.proc.pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except FileNotFoundError:  # closed meanwhile
            continue
        if link.startswith("socket:[") and link[len("socket:["):-1] in inodes:
            return int(fd)
    return None


class AccessLogSyscallsTest(HellodTestCase):
    """With log.access on, each line names the client's address and port. The
    address comes with accept4, so a request costs no getpeername(2); a
    connection accepted while the log was off asks the kernel once."""

    def reload(self, server, config, count):
        server.write_config('listen: ["127.0.0.1:0"]\nworkers: 1\n' + config)
        server.signal(signal.SIGHUP)
        server.wait_log(r"reloaded", count=count)

    def logged_ports(self, server, prefix, count):
        """The client ports of the access lines for paths starting with prefix."""
        pattern = re.compile(rf'^\S+ 127\.0\.0\.1 (\d+) "GET {prefix}')
        return wait_for(lambda: (lambda found: found if len(found) == count else None)(
            [int(m.group(1)) for m in map(pattern.match, server.log().splitlines()) if m]),
            10, what=f"{count} access lines for {prefix}")

    def test_kept_alive_requests_ask_for_no_peer_address(self):
        server = self.start("workers: 1\nlog: {access: text}\n")
        strace = self.trace(server, TRACED)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            for i in range(3):
                self.assertEqual(keep_alive_request(sock, f"/kept-{i}"), 200)
            port = sock.getsockname()[1]
        wait_for(lambda: closed_a_descriptor(strace),
                 what="strace to record hellod closing the connection")
        strace.detach()
        calls = connection_calls(strace.text())
        self.assertNotIn("getpeername", [name for name, _, _ in calls], calls)
        self.assertEqual(self.logged_ports(server, "/kept-", 3), [port] * 3)

    def test_a_connection_older_than_the_log_asks_once(self):
        server = self.start("workers: 1\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            self.assertEqual(keep_alive_request(sock, "/before"), 200)
            self.reload(server, "log: {access: text}\n", 1)
            strace = self.trace(server, "getpeername")
            for i in range(3):
                self.assertEqual(keep_alive_request(sock, f"/after-{i}"), 200)
            self.assertEqual(self.logged_ports(server, "/after-", 3), [sock.getsockname()[1]] * 3)
        strace.detach()
        self.assertEqual(len(re.findall(r"getpeername\(", strace.text())), 1, strace.text())

    def test_a_reused_descriptor_names_its_new_client(self):
        """A's descriptor, closed while the log is on, goes to B while it is
        off; B's line, once the log is on again, names B."""
        server = self.start("workers: 1\nlog: {access: text}\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as first:
            self.assertEqual(keep_alive_request(first, "/first"), 200)
            first_fd = hellod_descriptor(server, first)
            self.assertIsNotNone(first_fd)
            first.sendall(b"GET /first-close HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            recv_until_close(first)
        wait_for(lambda: not os.path.lexists(f"/proc/{server.proc.pid}/fd/{first_fd}"),
                 what="hellod to close the first connection's descriptor")
        self.reload(server, "", 1)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as second:
            self.assertEqual(keep_alive_request(second, "/second-unlogged"), 200)
            self.assertEqual(hellod_descriptor(server, second), first_fd,
                             "the kernel gave the second connection the first one's descriptor")
            self.reload(server, "log: {access: text}\n", 2)
            self.assertEqual(keep_alive_request(second, "/second-logged"), 200)
            self.assertEqual(self.logged_ports(server, "/second-logged", 1),
                             [second.getsockname()[1]])


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
