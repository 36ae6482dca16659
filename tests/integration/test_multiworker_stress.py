# SPDX-License-Identifier: MIT
"""Several workers under concurrent load while the configuration is reloaded
and clients reset: the cross-thread paths (snapshot hand-over through
uv_async, per-worker counters read by the supervisor, drain on SIGTERM) that
ThreadSanitizer checks in scripts/test.sh. Every response must be whole and
come from one of the configurations in force, and hellod must stop cleanly."""

import random
import signal
import socket
import struct
import threading
import time
import unittest

from hellod_harness import HellodTestCase, read_response

WORKERS = 4  # spelled out in config() too, where scripts/test.sh looks for it
CLIENTS = 6
RELOADS = 5
# Bounds for the load loop: a client stops after this many requests or when
# the reloads are done, whichever comes first; joining waits MAX_SECONDS more.
MAX_REQUESTS_PER_CLIENT = 10000
MAX_SECONDS = 20


def config(version):
    # "127.0.0.1:0" stays the same listener across reloads.
    return (f"listen: [\"127.0.0.1:0\"]\nworkers: 4\n"
            f"response:\n  body: \"v{version}\\n\"\n  headers: {{X-Version: \"{version}\"}}\n")


class MultiWorkerStressTest(HellodTestCase):
    def client(self, port, stop, errors, counts, seed):
        """Keep-alive requests on fresh connections of 1..20 requests; every
        tenth connection is reset (SO_LINGER 0) in the middle of a request."""
        rng = random.Random(seed)
        done = 0
        try:
            while not stop.is_set() and done < MAX_REQUESTS_PER_CLIENT:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    for _ in range(rng.randint(1, 20)):
                        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                        status, headers, body, _ = read_response(sock)
                        version = headers.get("x-version", "?")
                        if status != 200 or body != f"v{version}\n".encode():
                            errors.append(f"bad response {status} {headers} {body!r}")
                            return
                        done += 1
                    if rng.random() < 0.1:
                        sock.sendall(b"GET / HTTP/1.1\r\nHo")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except Exception as error:  # reported by the main thread
            errors.append(f"client {seed}: {error!r}")
        finally:
            counts.append(done)

    def test_reloads_under_concurrent_load_on_several_workers(self):
        """6 client threads on 4 workers while the body changes 5 times by
        SIGHUP: no failed or mixed response; afterwards every new connection
        sees the last body; SIGTERM ends hellod with exit 0."""
        server = self.start(config(0))
        stop, errors, counts = threading.Event(), [], []
        threads = [threading.Thread(target=self.client, args=(server.port, stop, errors, counts, i))
                   for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            for version in range(1, RELOADS + 1):
                time.sleep(0.2)  # let load build up between reloads: nothing to poll
                server.write_config(config(version))
                server.signal(signal.SIGHUP)
                server.wait_log(r"info: reloaded;", timeout=20, count=version)
        finally:
            stop.set()
            for thread in threads:
                thread.join(MAX_SECONDS + 30)
        self.assertEqual(errors, [])
        self.assertEqual(len(counts), CLIENTS)
        print(f"\n{sum(counts)} requests by {CLIENTS} clients across {RELOADS} reloads on {WORKERS} workers")
        self.assertGreater(sum(counts), CLIENTS)
        for _ in range(WORKERS * 4):  # new connections land on every worker (SO_REUSEPORT)
            with server.connect() as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                self.assertEqual(read_response(sock)[2], f"v{RELOADS}\n".encode())
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
