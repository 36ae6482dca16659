# SPDX-License-Identifier: MIT
"""systemd's file descriptor store (sd_notify(3) FDSTORE=1, FDNAME=, FDSTOREREMOVE=1).

A NotifyReceiver(fd_store=True) plays systemd: it keeps the sockets hellod
stores, closes the ones it removes, and a restart passes them to the next
hellod the way systemd does (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID: the
stored sockets after any socket unit's). Between the old process's exit and
the new one's start only the store holds the sockets, and new connections
must wait in their backlog instead of being refused.
"""

import os
import signal
import socket
import tempfile
import threading
import time
import shutil
import unittest

from hellod_harness import HellodTestCase, listening_socket, read_response, socket_activation, wait_for
from metrics_client import get as metrics_get, metrics_address
from notify_receiver import NotifyReceiver

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
RATE = 100  # new connections per second during a switch
LIMIT = 3000  # connections at most per load, whatever happens
CONNECT_TIMEOUT = 20.0  # a queued connection waits for the next process


def free_port():
    """A port that was free a moment ago, for a config that names one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(family, address, timeout=10.0):
    """One GET on a new connection; returns the status."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(REQUEST)
        return read_response(sock)[0]


def refused(family, address):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(address)
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    return False


class Load:
    """New connections at RATE per second, each on its own thread, until
    finish(); records when each began and how it ended."""

    def __init__(self, family, address):
        self.family, self.address = family, address
        self.results = []  # (began, outcome)
        self.began = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = []
        self.runner = threading.Thread(target=self._run, daemon=True)
        self.runner.start()

    def _run(self):
        due = time.monotonic()
        while not self.done.is_set() and len(self.threads) < LIMIT:
            began = time.monotonic()
            with self.lock:
                self.began.append(began)
            thread = threading.Thread(target=self._one, args=(began,), daemon=True)
            thread.start()
            self.threads.append(thread)
            due += 1 / RATE
            self.done.wait(max(0.0, due - time.monotonic()))

    def _one(self, began):
        try:
            status = get(self.family, self.address, CONNECT_TIMEOUT)
            outcome = "ok" if status == 200 else f"status {status}"
        except ConnectionRefusedError:
            outcome = "refused"
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "timeout"
        except (AssertionError, OSError) as error:
            outcome = f"failed: {error}"
        with self.lock:
            self.results.append((began, outcome))

    def started_since(self, moment):
        with self.lock:
            return sum(1 for began in self.began if began >= moment)

    def answered_since(self, moment):
        with self.lock:
            return sum(1 for began, outcome in self.results if began >= moment and outcome == "ok")

    def finish(self):
        self.done.set()
        self.runner.join()
        for thread in self.threads:
            thread.join(CONNECT_TIMEOUT + 10)
        failures = {}
        for _, outcome in self.results:
            if outcome != "ok":
                failures[outcome] = failures.get(outcome, 0) + 1
        return len(self.results), failures


class FdStoreTest(HellodTestCase):
    def store(self):
        receiver = NotifyReceiver(fd_store=True)
        self.addCleanup(receiver.close)
        return receiver

    def start_stored(self, config, receiver, extra=(), extra_names=(), **kwargs):
        """Starts hellod the way systemd does, passing what the store holds
        (after `extra`, a socket unit's sockets, when given)."""
        names, sockets = receiver.store_sockets()
        passed = list(extra) + sockets
        if passed:
            kwargs.update(socket_activation(passed, list(extra_names) + names))
        kwargs.setdefault("env", {}).update(receiver.env)
        server = self.start(config, **kwargs)
        for sock in sockets:
            sock.close()  # hellod holds its own copies now
        return server

    def restart(self, server, receiver, config, load=None):
        """systemctl restart: SIGTERM, wait for the exit, start the next hellod
        with the stored sockets. Under load, the next one starts only once
        connections were begun after the old one exited: they wait in the
        stored sockets' backlog, served by nobody."""
        self.assertEqual(server.stop(), 0)
        if load is not None:
            gone = time.monotonic()
            wait_for(lambda: load.started_since(gone) >= 10, 10,
                     what="connections begun while no hellod runs")
        after = self.start_stored(config, receiver)
        after.ready_at = time.monotonic()
        return after

    def assert_no_failures(self, load, server, gap_from):
        wait_for(lambda: load.answered_since(server.ready_at) >= 20, 20,
                 what="requests answered by the new hellod")
        total, failures = load.finish()
        self.assertEqual(failures, {}, f"{total} connections")
        self.assertGreater(load.answered_since(gap_from), 20)

    # -- restart ---------------------------------------------------------------

    def test_restart_refuses_no_connection(self):
        """Under load, a restart with the stored sockets refuses and fails nothing;
        the new process serves the same port, and serves the connection that
        was made while no process ran."""
        receiver = self.store()
        config = "workers: 2\n"
        first = self.start(config, env=receiver.env)
        receiver.wait_key("READY")
        self.assertEqual(receiver.store_names(),
                         ["hellod-0-127.0.0.1%3A0", "hellod-1-127.0.0.1%3A0"])
        address = ("127.0.0.1", first.port)
        load = Load(socket.AF_INET, address)
        began = time.monotonic()
        self.assertEqual(first.stop(), 0)
        gone = time.monotonic()
        # Nobody serves the port now: a connection still gets through to the backlog.
        waiting = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
        self.addCleanup(waiting.close)
        waiting.sendall(REQUEST)
        wait_for(lambda: load.started_since(gone) >= 10, 10,
                 what="connections begun while no hellod runs")
        second = self.start_stored(config, receiver)
        second.ready_at = time.monotonic()
        self.assertEqual(read_response(waiting)[0], 200)
        self.assertEqual(second.port, first.port)
        self.assertIn("took back 2 stored socket(s) of 127.0.0.1:0", second.log())
        self.assertNotEqual(second.proc.pid, first.proc.pid)
        self.assertEqual(first.proc.returncode, 0)
        self.assert_no_failures(load, second, began)
        self.assertEqual(receiver.store_names(),
                         ["hellod-0-127.0.0.1%3A0", "hellod-1-127.0.0.1%3A0"])
        self.assertEqual(second.stop(), 0)

    def test_restart_with_more_then_fewer_workers(self):
        """2 -> 3 workers: the stored two are taken back and one more joins
        them; 3 -> 1: the one worker serves all three. Nothing refused."""
        receiver = self.store()
        server = self.start("workers: 2\n", env=receiver.env)
        receiver.wait_key("READY")
        address = ("127.0.0.1", server.port)
        for workers, names in ((3, 3), (1, 3)):
            with self.subTest(workers=workers):
                load = Load(socket.AF_INET, address)
                began = time.monotonic()
                server = self.restart(server, receiver, f"workers: {workers}\n", load)
                self.assertEqual(server.port, address[1])
                self.assertIn(f"with {workers} worker", server.log())
                self.assert_no_failures(load, server, began)
                self.assertEqual(receiver.store_names(),
                                 [f"hellod-{i}-127.0.0.1%3A0" for i in range(names)])

    def test_unix_socket_is_taken_back_and_its_file_kept(self):
        """A unix listener is stored once; its file outlives the old process
        and the new one serves the same socket."""
        directory = tempfile.mkdtemp(prefix="hellod-store-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "hellod.sock")
        config = f'listen: ["unix:{path}"]\nworkers: 2\n'
        receiver = self.store()
        first = self.start(config, env=receiver.env)
        receiver.wait_key("READY")
        self.assertEqual(receiver.store_names(), [f"hellod-0-unix%3A{path}"])
        load = Load(socket.AF_UNIX, path)
        began = time.monotonic()
        second = self.restart(first, receiver, config, load)
        self.assertTrue(os.path.exists(path))
        self.assertIn(f"took back 1 stored socket(s) of unix:{path}", second.log())
        self.assert_no_failures(load, second, began)

    def test_a_unix_socket_whose_file_is_gone_is_bound_anew(self):
        """Its directory was removed between runs (RuntimeDirectoryPreserve=no):
        the stored socket serves nobody, so it is released and the path bound again."""
        directory = tempfile.mkdtemp(prefix="hellod-store-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "hellod.sock")
        config = f'listen: ["unix:{path}"]\n'
        receiver = self.store()
        first = self.start(config, env=receiver.env)
        receiver.wait_key("READY")
        self.assertEqual(first.stop(), 0)
        os.unlink(path)
        second = self.start_stored(config, receiver)
        self.assertIn(f"closing stored socket hellod-0-unix%3A{path} (unix:{path}): its socket "
                      "file is gone", second.log())
        self.assertEqual([m["FDNAME"] for m in receiver.with_key("FDSTOREREMOVE")],
                         [f"hellod-0-unix%3A{path}"])
        self.assertEqual(get(socket.AF_UNIX, path), 200)
        self.assertEqual(receiver.store_names(), [f"hellod-0-unix%3A{path}"])

    # -- what must not be served ---------------------------------------------

    def test_a_stored_socket_no_longer_configured_is_closed_and_removed(self):
        """The file changed between runs: the stored socket is removed from the
        store (FDSTOREREMOVE=1 with its FDNAME=) and closed, before the new
        address is bound and READY=1."""
        receiver = self.store()
        first = self.start("", env=receiver.env)
        receiver.wait_key("READY")
        old = ("127.0.0.1", first.port)
        self.assertEqual(first.stop(), 0)
        self.assertFalse(refused(socket.AF_INET, old), "the store does not hold the socket")
        port = free_port()
        second = self.start_stored(f'listen: ["127.0.0.1:{port}"]\n', receiver)
        removal = receiver.wait_key("FDSTOREREMOVE", "1")
        self.assertEqual(removal["FDNAME"], "hellod-0-127.0.0.1%3A0")
        # Waited for before the list is read: the list is a snapshot, and a
        # slow (sanitized) hellod may send READY=1 only after it was taken.
        ready = receiver.wait_key("READY", "1", count=2)
        messages = receiver.all()
        self.assertLess(messages.index(removal), messages.index(ready))
        self.assertRegex(second.log(), r"closing stored socket hellod-0-127\.0\.0\.1%3A0 "
                                       r"\(127\.0\.0\.1:\d+\): no listen: entry has this name")
        self.assertEqual(receiver.store_names(), [f"hellod-0-127.0.0.1%3A{port}"])
        self.assertTrue(refused(socket.AF_INET, old), "the old socket is still open")
        self.assertEqual(get(socket.AF_INET, ("127.0.0.1", port)), 200)

    def test_a_stored_socket_not_bound_where_its_name_says_is_never_served(self):
        """Named for 127.0.0.1:0 but bound to 127.0.0.2, or not a listening
        stream socket: closed and removed; listen: is bound anew."""
        receiver = self.store()
        elsewhere = listening_socket(address=("127.0.0.2", 0))
        datagram = listening_socket(kind=socket.SOCK_DGRAM)
        names = ["hellod-0-127.0.0.1%3A0", "hellod-1-127.0.0.1%3A0"]
        kwargs = socket_activation([elsewhere, datagram], names)
        kwargs["env"].update(receiver.env)
        server = self.start("", **kwargs)
        moved = elsewhere.getsockname()
        elsewhere.close()
        datagram.close()
        receiver.wait_key("READY")
        removed = [m["FDNAME"] for m in receiver.with_key("FDSTOREREMOVE")]
        self.assertEqual(removed, names)
        log = server.log()
        self.assertIn(f"closing stored socket {names[0]} ({moved[0]}:{moved[1]}): it is bound to "
                      f"{moved[0]}:{moved[1]}, not to 127.0.0.1:0", log)
        self.assertIn(f"closing stored socket {names[1]} (not a listening socket): it is not a "
                      "listening stream socket", log)
        self.assertTrue(refused(socket.AF_INET, moved), "hellod kept the mismatched socket open")
        self.assertNotEqual(server.port, moved[1])
        self.assertEqual(get(socket.AF_INET, ("127.0.0.1", server.port)), 200)
        self.assertEqual(receiver.store_names(), ["hellod-0-127.0.0.1%3A0"])

    def test_socket_unit_sockets_win_over_stored_ones(self):
        """Both passed: the socket unit's are served (listen: ignored), the
        stored ones released, and nothing is stored."""
        receiver = self.store()
        first = self.start("", env=receiver.env)
        receiver.wait_key("READY")
        self.assertEqual(first.stop(), 0)
        unit = listening_socket()
        self.addCleanup(unit.close)
        second = self.start_stored("", receiver, extra=[unit], extra_names=["http"])
        self.assertIn("socket-activated", second.log())
        self.assertRegex(second.log(), r"closing stored socket hellod-0-127\.0\.0\.1%3A0 "
                                       r"\(127\.0\.0\.1:\d+\): the socket unit's sockets are "
                                       r"served instead")
        self.assertEqual(get(socket.AF_INET, unit.getsockname()), 200)
        self.assertEqual(receiver.store_names(), [])
        self.assertEqual(len(receiver.with_key("FDSTORE")), 1)  # the first run's only

    def test_metrics_socket_is_left_alone(self):
        """A socket unit's "metrics" socket is neither served by the workers
        nor released: hellod binds listen: and the metrics listener takes it."""
        receiver = self.store()
        metrics = listening_socket()
        address = metrics.getsockname()
        kwargs = socket_activation([metrics], ["metrics"])
        kwargs["env"].update(receiver.env)
        server = self.start("", **kwargs)
        metrics.close()
        receiver.wait_key("READY")
        self.assertNotIn("socket-activated", server.log())
        self.assertIn(f"passed socket metrics ({address[0]}:{address[1]}) is left to the metrics "
                      "listener", server.log())
        self.assertEqual(receiver.with_key("FDSTOREREMOVE"), [])
        self.assertFalse(refused(socket.AF_INET, address), "hellod closed the metrics socket")
        self.assertEqual(get(socket.AF_INET, ("127.0.0.1", server.port)), 200)

    def test_metrics_listener_is_stored_and_taken_back(self):
        """The metrics listener's socket is stored under a name of its own
        and served again after a restart, on the same port; a reload without
        metrics removes it from the store."""
        receiver = self.store()
        config = 'metrics: {listen: ["127.0.0.1:0"]}\n'
        first = self.start(config, env=receiver.env)
        receiver.wait_key("READY")
        self.assertEqual(receiver.store_names(),
                         ["hellod-0-127.0.0.1%3A0", "hellod-metrics-0-127.0.0.1%3A0"])
        scrape_address = metrics_address(first)
        second = self.restart(first, receiver, config)
        self.assertEqual(metrics_address(second), scrape_address)
        self.assertIn("took back 1 stored socket(s) of 127.0.0.1:0", second.log())
        self.assertEqual(metrics_get(scrape_address)[0], 200)
        self.assertEqual(get(socket.AF_INET, ("127.0.0.1", second.port)), 200)
        ready = len([m for m in receiver.all() if m.get("READY") == "1"])
        second.write_config('listen: ["127.0.0.1:0"]\n')
        second.signal(signal.SIGHUP)
        receiver.wait_key("READY", "1", count=ready + 1)
        self.assertEqual(receiver.store_names(), ["hellod-0-127.0.0.1%3A0"])
        self.assertTrue(refused(socket.AF_INET, scrape_address), "the metrics socket still listens")

    def test_stored_metrics_socket_goes_when_a_socket_unit_passes_metrics(self):
        """A restart that now also gets a socket unit's "metrics" socket serves the metrics
        there, and removes and closes the metrics socket the store kept from the run before
        (it would only hold its port); the public listener's stored socket is taken back."""
        receiver = self.store()
        config = 'metrics: {listen: ["127.0.0.1:0"]}\n'
        first = self.start(config, env=receiver.env)
        receiver.wait_key("READY")
        stored_scrape = metrics_address(first)
        self.assertEqual(first.stop(), 0)
        unit = listening_socket()
        self.addCleanup(unit.close)
        second = self.start_stored(config, receiver, extra=[unit], extra_names=["metrics"])
        unit_address = unit.getsockname()
        unit.close()
        receiver.wait_key("READY", "1", count=2)
        self.assertRegex(second.log(), r"closing stored socket hellod-metrics-0-127\.0\.0\.1%3A0 "
                                       r"\(127\.0\.0\.1:\d+\): the socket unit's \"metrics\" "
                                       r"socket is served instead")
        self.assertEqual([m["FDNAME"] for m in receiver.with_key("FDSTOREREMOVE")],
                         ["hellod-metrics-0-127.0.0.1%3A0"])
        self.assertTrue(refused(socket.AF_INET, stored_scrape), "the stored metrics socket listens")
        self.assertEqual(metrics_get(unit_address)[0], 200)
        self.assertEqual(get(socket.AF_INET, ("127.0.0.1", second.port)), 200)

    # -- reload ------------------------------------------------------------------

    def test_reload_keeps_the_store_in_step(self):
        """A reload that moves the port stores the new socket and removes the
        old one; a failed reload changes nothing; a restart then serves the
        new port with no refusal."""
        receiver = self.store()
        server = self.start("", env=receiver.env)
        receiver.wait_key("READY")
        port = free_port()
        server.write_config(f'listen: ["127.0.0.1:{port}"]\n')
        server.signal(signal.SIGHUP)
        receiver.wait_key("READY", "1", count=2)
        self.assertEqual(receiver.store_names(), [f"hellod-0-127.0.0.1%3A{port}"])
        self.assertEqual([m["FDNAME"] for m in receiver.with_key("FDSTOREREMOVE")],
                         ["hellod-0-127.0.0.1%3A0"])

        taken = listening_socket()  # bound without SO_REUSEPORT: the reload's bind fails
        self.addCleanup(taken.close)
        before = len(receiver.all())
        server.write_config(f'listen: ["127.0.0.1:{port}", "127.0.0.1:{taken.getsockname()[1]}"]\n')
        server.signal(signal.SIGHUP)
        failed = receiver.wait_key("READY", "1", count=3)
        self.assertIn("reload failed", failed["STATUS"])
        self.assertEqual([sorted(m.fields) for m in receiver.all()[before:]],
                         [["MONOTONIC_USEC", "RELOADING"], ["READY", "STATUS"]])
        self.assertEqual(receiver.store_names(), [f"hellod-0-127.0.0.1%3A{port}"])

        server.write_config(f'listen: ["127.0.0.1:{port}"]\n')
        load = Load(socket.AF_INET, ("127.0.0.1", port))
        began = time.monotonic()
        server = self.restart(server, receiver, f'listen: ["127.0.0.1:{port}"]\n', load)
        self.assertIn(f"took back 1 stored socket(s) of 127.0.0.1:{port}", server.log())
        self.assert_no_failures(load, server, began)

    # -- no store ----------------------------------------------------------------

    def test_fdstore_zero_stores_nothing(self):
        """$FDSTORE=0 (systemd 254+ without FileDescriptorStoreMax=): no FDSTORE=1,
        and a unix socket's file is removed at exit as without systemd."""
        directory = tempfile.mkdtemp(prefix="hellod-store-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "hellod.sock")
        receiver = self.store()
        server = self.start(f'listen: ["unix:{path}", "127.0.0.1:0"]\n',
                            env={**receiver.env, "FDSTORE": "0"})
        receiver.wait_key("READY")
        self.assertEqual(server.stop(), 0)
        self.assertEqual(receiver.with_key("FDSTORE"), [])
        self.assertFalse(os.path.exists(path))

    def test_without_notify_socket_a_unix_file_is_removed_at_exit(self):
        directory = tempfile.mkdtemp(prefix="hellod-store-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "hellod.sock")
        server = self.start(f'listen: ["unix:{path}"]\n')
        self.assertTrue(os.path.exists(path))
        self.assertEqual(server.stop(), 0)
        self.assertFalse(os.path.exists(path))
        self.assertNotIn("file descriptor store", server.log())


if __name__ == "__main__":
    unittest.main()
