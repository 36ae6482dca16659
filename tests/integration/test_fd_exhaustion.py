"""File-descriptor exhaustion: hellod started with RLIMIT_NOFILE 64 (soft and
hard, so it cannot raise it) and flooded with more connections than it can
hold. It must not crash, not spin (EMFILE on accept must not become a busy
loop: libuv's reserve-descriptor trick accepts and closes the client, so
every client is either served or shed, none hangs), and serve again once
clients leave."""

import resource
import socket
import time
import unittest

from hellod_harness import HellodTestCase, read_response, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
NOFILE = 64
CLIENTS = 200
EXHAUSTION_SECONDS = 2.0
# hellod is idle in an event loop while exhausted; a busy loop would burn a
# whole core (2 s of CPU in 2 s). Sanitizer builds get the same bound: they
# are slower per event, not at waiting.
MAX_CPU_SECONDS = 0.3


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class FdExhaustionTest(HellodTestCase):
    def test_more_clients_than_descriptors(self):
        """200 clients against a 64-descriptor hellod: it warns at start that the
        limit is too low; each client is served or shed, none hangs; no crash,
        no busy loop; and service resumes once the clients leave."""
        server = self.start("limits: {max_connections: 10000}\ntimeouts: {header: 60s, keepalive: 60s}\n",
                            preexec_fn=low_nofile)
        self.assertIn("open-file limit is 64", server.log())
        clients = []

        def close_clients():
            for sock in clients:
                sock.close()
        self.addCleanup(close_clients)
        for _ in range(CLIENTS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", server.port))  # the kernel completes it from the backlog
            sock.sendall(GET)
            clients.append(sock)
        served, shed = 0, 0
        for sock in clients:
            sock.settimeout(2)
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                self.fail(f"a client hangs: neither served nor shed ({served} served, {shed} shed)")
            if data.startswith(b"HTTP/1.1 200 "):
                served += 1
            else:
                self.assertEqual(data, b"", "a shed client got bytes other than a response")
                shed += 1
        self.assertGreater(served, NOFILE // 2, "fewer clients served than descriptors allow")
        self.assertLess(served, NOFILE, "more clients served at once than descriptors exist")
        self.assertGreater(shed, 0)

        cpu_before = server.cpu_seconds()
        time.sleep(EXHAUSTION_SECONDS)  # measuring CPU use over an interval: nothing to poll
        cpu_used = server.cpu_seconds() - cpu_before
        print(f"\nfd exhaustion: {served}/{CLIENTS} clients served; "
              f"{cpu_used:.3f}s CPU in {EXHAUSTION_SECONDS}s of exhaustion")
        self.assertIsNone(server.proc.poll(), "hellod died")
        self.assertLess(cpu_used, MAX_CPU_SECONDS, "hellod spins while out of descriptors")

        close_clients()
        clients.clear()

        def answered():
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                    sock.sendall(GET_CLOSE)
                    return read_response(sock)[0] == 200
            except (OSError, AssertionError):
                return False
        wait_for(answered, timeout=10, interval=0.1, what="service to resume after the clients left")
        # And it holds a full complement again, not just one connection.
        again = []
        self.addCleanup(lambda: [s.close() for s in again])
        for _ in range(NOFILE // 2):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            again.append(sock)
            sock.sendall(GET)
            self.assertEqual(read_response(sock)[0], 200)
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
