# SPDX-License-Identifier: MIT
"""SIGHUP reload: validate first, then switch responses and listeners without
refusing or dropping a connection."""

import re
import signal
import socket
import threading
import time
import unittest

from hellod_harness import HellodTestCase, listening_socket, read_response, socket_activation
from notify_receiver import NotifyReceiver

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def body_config(body, listen=("127.0.0.1:0",), extra=""):
    """A config with this body; "127.0.0.1:0" stays the same listener across reloads."""
    listen_list = ", ".join(f'"{address}"' for address in listen)
    return f'listen: [{listen_list}]\nresponse:\n  body: "{body}"\n' + extra


def ask(sock):
    sock.sendall(REQUEST)
    status, _headers, body, _rest = read_response(sock)
    return status, body


def get_body(host, port, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((host, port))
        return ask(sock)[1]


class ReloadTest(HellodTestCase):
    def start_notified(self, config):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start(config, env=notify.env)
        notify.wait_key("READY")
        return server, notify

    def reload(self, server, notify, config, count=2):
        """Writes config, sends SIGHUP, waits for the count-th READY=1; returns it."""
        server.write_config(config)
        server.signal(signal.SIGHUP)
        return notify.wait_key("READY", "1", count=count)

    def test_body_change_reaches_an_open_keepalive_connection(self):
        """The next response on an already-open connection uses the new body."""
        server, notify = self.start_notified(body_config("old"))
        with server.connect() as conn:
            self.assertEqual(ask(conn), (200, b"old"))
            self.reload(server, notify, body_config("new"))
            self.assertEqual(ask(conn), (200, b"new"))
        self.assertEqual(get_body("127.0.0.1", server.port), b"new")

    def test_broken_config_changes_nothing_and_reports_why(self):
        """A broken file: old response kept, file:line:col logged, STATUS says reload failed."""
        server, notify = self.start_notified(body_config("old"))
        port = server.port
        with server.connect() as conn:
            self.assertEqual(ask(conn), (200, b"old"))
            ready = self.reload(server, notify, body_config("new", extra="workers: lots\n"))
            self.assertEqual(ask(conn), (200, b"old"))
        self.assertRegex(ready["STATUS"], r"^reload failed: .*hellod\.yaml:4:10: workers: ")
        self.assertIn(f"serving 127.0.0.1:{port} with 1 worker", ready["STATUS"])
        self.assertRegex(server.log(), r"error: reload failed, still serving the previous "
                                       r"configuration: \S*hellod\.yaml:4:10: workers")
        self.assertEqual(get_body("127.0.0.1", port), b"old")
        # A YAML syntax error is reported with its position too.
        ready = self.reload(server, notify, "response: [unclosed\n", count=3)
        self.assertRegex(ready["STATUS"], r"^reload failed: \S*hellod\.yaml:\d+:\d+: ")
        self.assertEqual(get_body("127.0.0.1", port), b"old")

    def test_listen_change_binds_new_closes_removed_keeps_unchanged(self):
        """listen: [A, B] -> [A, C]: C answers, B is refused, A keeps its socket, and a
        connection accepted on B before the reload is still served."""
        server, notify = self.start_notified(body_config("one", ["127.0.0.1:0", "[::1]:0"]))
        kept_port = server.port
        removed_port = int(re.search(r"listening on \[::1\]:(\d+)", server.log()).group(1))
        kept_conn = server.connect()
        self.addCleanup(kept_conn.close)
        on_removed = socket.create_connection(("::1", removed_port), timeout=5)
        self.addCleanup(on_removed.close)
        self.assertEqual(ask(on_removed), (200, b"one"))

        ready = self.reload(server, notify, body_config(
            "two", ["127.0.0.1:0", "127.0.0.2:0"]))
        added_port = int(re.search(r"listening on 127\.0\.0\.2:(\d+)", server.log()).group(1))
        self.assertEqual(ready["STATUS"], f"reloaded; serving 127.0.0.1:{kept_port}, "
                                          f"127.0.0.2:{added_port} with 1 worker")
        self.assertIn("stopped listening on [::1]:0", server.log())
        self.assertEqual(get_body("127.0.0.2", added_port), b"two")
        self.assertEqual(get_body("127.0.0.1", kept_port), b"two")
        with self.assertRaises(ConnectionRefusedError):
            get_body("::1", removed_port, socket.AF_INET6)
        self.assertEqual(ask(kept_conn), (200, b"two"))
        self.assertEqual(ask(on_removed), (200, b"two"))

    def test_unix_listener_added_and_removed(self):
        """A unix listener added by reload answers; removed again, its file is gone."""
        server, notify = self.start_notified(body_config("u"))
        path = f"{server.dir}/hellod.sock"
        listen = ["127.0.0.1:0", f"unix:{path}"]
        self.reload(server, notify, body_config("u", listen))
        with socket.socket(socket.AF_UNIX) as unix:
            unix.settimeout(5)
            unix.connect(path)
            self.assertEqual(ask(unix), (200, b"u"))
        self.reload(server, notify, body_config("u", listen[:1]), count=3)
        with socket.socket(socket.AF_UNIX) as unix:
            with self.assertRaises((FileNotFoundError, ConnectionRefusedError)):
                unix.connect(path)

    def test_failed_bind_of_new_address_keeps_everything(self):
        """A new listen: entry that cannot be bound fails the whole reload."""
        taken = listening_socket()
        self.addCleanup(taken.close)
        server, notify = self.start_notified(body_config("old"))
        ready = self.reload(server, notify, body_config(
            "new", ["127.0.0.1:0", f"127.0.0.1:{taken.getsockname()[1]}"]))
        self.assertRegex(ready["STATUS"], r"^reload failed: .*Address already in use")
        self.assertEqual(get_body("127.0.0.1", server.port), b"old")

    def test_workers_change_is_logged_as_needing_a_restart(self):
        """workers: 1 -> 3 is applied at the next restart only; the rest reloads."""
        server, notify = self.start_notified(body_config("old"))
        ready = self.reload(server, notify,
                            body_config("new", extra="workers: 3\n"))
        self.assertIn("workers changed from 1 to 3: that takes a restart", server.log())
        self.assertEqual(ready["STATUS"], f"reloaded; serving 127.0.0.1:{server.port} with 1 worker")
        self.assertEqual(get_body("127.0.0.1", server.port), b"new")

    def test_socket_activated_reload_ignores_listen(self):
        """Socket-activated: a reload changes the body and leaves the inherited socket alone."""
        sock = listening_socket()
        self.addCleanup(sock.close)
        port = sock.getsockname()[1]
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        kwargs = socket_activation([sock])
        kwargs["env"].update(notify.env)
        server = self.start(body_config("old"), **kwargs)
        sock.close()
        notify.wait_key("READY")
        self.reload(server, notify, body_config("new", ["127.0.0.1:1"]))
        self.assertIn("socket-activated: listen: changes are ignored", server.log())
        self.assertEqual(get_body("127.0.0.1", port), b"new")

    def test_reload_under_load_loses_no_request(self):
        """Clients loop over kept-alive and new connections while the body changes.

        Every request gets a 200 with the old or the new body, none fails, and
        the new body is seen after the reload. Bounded: at most 20000 requests
        or 20 s per client.
        """
        server, notify = self.start_notified(body_config("before", extra="workers: 2\n"))
        port = server.port
        stop = threading.Event()
        results = {"bodies": [], "errors": []}
        lock = threading.Lock()

        def client(keepalive):
            deadline = time.monotonic() + 20
            conn = None
            for _ in range(20000):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                try:
                    if conn is None:
                        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                    conn.sendall(REQUEST)
                    status, headers, body, _rest = read_response(conn)
                    if status != 200:
                        raise AssertionError(f"status {status}")
                    with lock:
                        results["bodies"].append(body)
                    # keepalive_requests may end a connection; that is no loss.
                    if not keepalive or headers.get("connection") == "close":
                        conn.close()
                        conn = None
                except Exception as error:  # recorded, asserted below
                    with lock:
                        results["errors"].append(repr(error))
                    conn = None
            if conn is not None:
                conn.close()

        threads = [threading.Thread(target=client, args=(keep,)) for keep in (True, False, True)]
        for thread in threads:
            thread.start()
        try:
            self.wait_bodies(results, lock, b"before", 1000)
            self.reload(server, notify, 'workers: 2\n'
                                        + body_config("after"))
            self.wait_bodies(results, lock, b"after", 1000)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        self.assertEqual(results["errors"], [])
        self.assertEqual(set(results["bodies"]), {b"before", b"after"})
        # Every request was answered: hellod counted exactly what the clients got.
        served = len(results["bodies"])
        self.assertEqual(server.stop(), 0)
        self.assertIn(f"stopped after serving {served} requests", server.log())

    def wait_bodies(self, results, lock, body, count):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with lock:
                if results["bodies"].count(body) >= count or results["errors"]:
                    return
            time.sleep(0.01)
        self.fail(f"fewer than {count} responses with {body!r}")


if __name__ == "__main__":
    unittest.main()
