# SPDX-License-Identifier: MIT
"""The TCP segments a one-shot connection costs, seen by a packet socket on
the loopback interface (issue 13). The response acknowledges the request:
no ACK of its own goes before it. When the client asked for the close
(Connection: close, HTTP/1.0), the response and hellod's FIN leave in one
segment, not two. A keep-alive client cut off by limits.keepalive_requests
may have its next request on the way: its response leaves at once, the FIN
on its own after it. And a request that arrives in parts is acknowledged at
once, so a client with Nagle's algorithm on is not held up by the kernel's
delayed ACK."""

import collections
import ctypes
import socket
import struct
import time
import unittest

from hellod_harness import HellodTestCase, read_response, recv_until_close, wait_for

ETH_P_IP = 0x0800
ETHERNET_HEADER = 14  # lo frames carry an all-zero Ethernet header
PACKET_HOST = 0
IPPROTO_TCP = 6
TCP_FIN = 0x01
TCP_SYN = 0x02
# Linux's shortest delayed ACK (TCP_ATO_MIN) is 40 ms, give or take a clock
# tick: an exchange that took under half of that was not held up by one.
NOT_DELAYED_S = 0.020

Segment = collections.namedtuple("Segment", "source_port destination_port flags payload")


SO_ATTACH_FILTER = 26


def port_filter(port):
    """A classic BPF program (struct sock_filter[]) that keeps the lo frames of
    IPv4 TCP segments from or to `port` and drops the rest, so that other
    tests' traffic, running alongside, cannot fill the capture's buffer."""
    program = [
        (0x28, 0, 0, 12),       # ldh [12]: the EtherType
        (0x15, 0, 8, ETH_P_IP),  # IPv4, else drop
        (0x30, 0, 0, 23),       # ldb [23]: the IP protocol
        (0x15, 0, 6, IPPROTO_TCP),  # TCP, else drop
        (0xB1, 0, 0, 14),       # ldxb 4*([14]&0xf): the IP header's length
        (0x48, 0, 0, 14),       # ldh [x+14]: the source port
        (0x15, 2, 0, port),     # ours: keep
        (0x48, 0, 0, 16),       # ldh [x+16]: the destination port
        (0x15, 0, 1, port),     # ours: keep, else drop
        (0x06, 0, 0, 0x40000),  # keep up to 256 KiB of the frame
        (0x06, 0, 0, 0),        # drop
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


class LoopbackCapture:
    """Every IPv4 TCP segment to or from `port` sent on lo from its creation on."""

    def __init__(self, port):
        # Protocol 0 receives nothing until bind() names one, by which time
        # the filter is in place.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        program = ctypes.create_string_buffer(port_filter(port))
        fprog = struct.pack("@HP", len(program.raw) // 8, ctypes.addressof(program))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self.sock.bind(("lo", ETH_P_IP))
        self.sock.setblocking(False)
        self.segments = []

    def close(self):
        self.sock.close()

    def read(self):
        """Adds what the socket holds to self.segments."""
        while True:
            try:
                frame, address = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            # Bound to ETH_P_IP, the socket sees lo's frames as they come in.
            if address[2] == PACKET_HOST:
                segment = parse_tcp(frame[ETHERNET_HEADER:])
                if segment is not None:
                    self.segments.append(segment)

    def between(self, source_port, destination_port):
        self.read()
        return [s for s in self.segments
                if (s.source_port, s.destination_port) == (source_port, destination_port)]

    def wait_for_fin(self, source_port, destination_port):
        """The segments from source_port to destination_port, up to the first
        with a FIN."""
        def sent_fin():
            segments = self.between(source_port, destination_port)
            return segments if any(s.flags & TCP_FIN for s in segments) else None
        return wait_for(sent_fin, what=f"a FIN from port {source_port} to {destination_port}")


def parse_tcp(packet):
    """A Segment from an IPv4 packet, or None when it is not TCP."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != IPPROTO_TCP:
        return None
    ip_header = (packet[0] & 0x0F) * 4
    total = struct.unpack("!H", packet[2:4])[0]
    tcp = packet[ip_header:total]
    source_port, destination_port = struct.unpack("!HH", tcp[:4])
    tcp_header = (tcp[12] >> 4) * 4
    return Segment(source_port, destination_port, tcp[13], bytes(tcp[tcp_header:]))


class WireSegmentsTest(HellodTestCase):
    def capture(self, port):
        try:
            capture = LoopbackCapture(port)
        except PermissionError:
            self.skipTest("a packet socket needs CAP_NET_RAW")
        self.addCleanup(capture.close)
        return capture

    def one_shot(self, server, request):
        """Sends the request on a new connection; returns the response and the
        segments hellod sent on that connection, up to its FIN."""
        capture = self.capture(server.port)
        with server.connect() as sock:
            client_port = sock.getsockname()[1]
            sock.sendall(request)
            response = recv_until_close(sock)
        return response, capture.wait_for_fin(server.port, client_port)

    def assert_response_carries_fin(self, response, segments):
        self.assertTrue(response.startswith(b"HTTP/1.1 200 "), response)
        with_data = [s for s in segments if s.payload]
        self.assertEqual(b"".join(s.payload for s in with_data), response)
        self.assertTrue(with_data[-1].flags & TCP_FIN,
                        f"the response's last segment has no FIN: {segments}")
        self.assertEqual([s for s in segments if s.flags & TCP_FIN and not s.payload], [],
                         "a FIN in a segment of its own")

    def test_the_response_acknowledges_the_request(self):
        server = self.start()
        response, segments = self.one_shot(
            server, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertTrue(response.startswith(b"HTTP/1.1 200 "), response)
        before_response = segments[:next(i for i, s in enumerate(segments) if s.payload)]
        self.assertEqual([s for s in before_response if not s.flags & TCP_SYN], [],
                         f"an ACK of its own before the response: {segments}")

    def test_a_request_in_parts_is_acknowledged_at_once(self):
        """Nagle's algorithm on the client (no TCP_NODELAY) holds the second
        part until the first is acknowledged. Of a few tries, one at least
        must beat the kernel's delayed ACK, which none can when hellod
        leaves the ACK to the timer; the second request on the connection
        is written the same way."""
        server = self.start()
        parts = (b"GET / HTTP/1.1\r\nHost: t\r\n", b"\r\n")
        times = {"first request": [], "kept-alive request": []}
        for _ in range(5):
            with server.connect() as sock:
                self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 0)
                for which in times:
                    started = time.monotonic()
                    for part in parts:
                        sock.sendall(part)
                    status, _, body, _ = read_response(sock)
                    times[which].append(time.monotonic() - started)
                    self.assertEqual((status, body), (200, b"Hello, World!\n"))
        for which, taken in times.items():
            self.assertLess(min(taken), NOT_DELAYED_S,
                            f"{which}: every try waited for a delayed ACK: {taken}")

    def test_the_fin_rides_with_the_response_to_connection_close(self):
        server = self.start()
        response, segments = self.one_shot(
            server, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertIn(b"\r\nConnection: close\r\n", response)
        self.assert_response_carries_fin(response, segments)

    def test_the_fin_rides_with_the_response_to_http_1_0(self):
        server = self.start()
        response, segments = self.one_shot(server, b"GET / HTTP/1.0\r\n\r\n")
        self.assert_response_carries_fin(response, segments)

    def test_a_keep_alive_client_at_its_request_limit_gets_the_response_at_once(self):
        server = self.start("limits: {keepalive_requests: 1}\n")
        response, segments = self.one_shot(server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(response.startswith(b"HTTP/1.1 200 "), response)
        self.assertIn(b"\r\nConnection: close\r\n", response)
        with_data = [s for s in segments if s.payload]
        self.assertEqual(b"".join(s.payload for s in with_data), response)
        self.assertFalse(any(s.flags & TCP_FIN for s in with_data),
                         f"the response waited for the FIN: {segments}")


if __name__ == "__main__":
    unittest.main()
