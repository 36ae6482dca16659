# SPDX-License-Identifier: MIT
"""Starts the real hellod binary and talks to it over real sockets.

Every test gets its own temporary directory, its own config and ephemeral
ports (listen on port 0, read the bound address from hellod's log), so tests
never collide and never need a fixed port.
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HELLOD = os.environ.get("HELLOD_BINARY", os.path.join(os.path.dirname(__file__), "../../build/src/hellod"))
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))

# Generous upper bounds for waiting on a condition; tests poll, never sleep a
# fixed time, so these only matter when something is broken.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def wait_for(condition, timeout=5.0, interval=0.01, what="condition"):
    """Polls condition() until it returns a truthy value, or fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Hellod:
    """One hellod process with a config of the test's choosing.

    config: YAML text. When it has no `listen:` key, one on 127.0.0.1:0 is
    added, so the kernel picks a free port.
    """

    def __init__(self, config="", args=None, env=None, listen=True, wait_ready=True,
                 pass_fds=(), preexec_fn=None, config_name="hellod.yaml", wrapper=(),
                 stderr=subprocess.STDOUT):
        self.dir = tempfile.mkdtemp(prefix="hellod-test-")
        # Removed when the test process ends, so a test may still read the
        # log after close().
        atexit.register(shutil.rmtree, self.dir, True)
        self.config_path = os.path.join(self.dir, config_name)
        if listen and not re.search(r"^listen:", config, re.M):
            config = 'listen: ["127.0.0.1:0"]\n' + config
        self.write_config(config)
        self.log_path = os.path.join(self.dir, "hellod.log")
        self._log_file = open(self.log_path, "wb")
        cmd = [HELLOD, "--config", self.config_path] if args is None else [HELLOD] + args
        cmd = list(wrapper) + cmd  # e.g. socket_activation()'s LISTEN_PID shell
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                 "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
        full_env.update(env or {})
        if wrapper and os.path.basename(wrapper[0]) == "strace":
            full_env.update(traced_sanitizer_env(full_env))
        # stderr: the log file, unless the test gives hellod a stream of its
        # own (which it then copies to log_path, as test_stalled_stderr does).
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=stderr,
                                     env=full_env, pass_fds=pass_fds, preexec_fn=preexec_fn)
        self.addresses = []
        if wait_ready:
            self.wait_ready()

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=5.0, count=1):
        """Waits until the log matches the regex `count` times; returns the last match."""
        def found():
            matches = list(re.finditer(pattern, self.log()))
            return matches[count - 1] if len(matches) >= count else None
        return wait_for(found, timeout, what=f"log line /{pattern}/ x{count}; log so far:\n{self.log()}")

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"hellod exited with {self.proc.returncode}:\n{self.log()}")
            return re.search(r"info: serving ", self.log())
        wait_for(ready, START_TIMEOUT, what="hellod to serve")
        self.addresses = re.findall(r"listening on (\S+)", self.log())
        return self

    @property
    def port(self):
        """The port of the first TCP listener."""
        for address in self.addresses:
            match = re.match(r"^(?:\[.*\]|[\d.]+):(\d+)$", address)
            if match:
                return int(match.group(1))
        raise AssertionError(f"no TCP listener in {self.addresses}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def connect(self, timeout=5.0):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def get_body(self, target="/", timeout=10.0):
        """The body of GET target, on a connection of its own."""
        with self.connect(timeout=timeout) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            return recv_until_close(sock).split(b"\r\n\r\n", 1)[1]

    def reload_until_served(self, config, body):
        """Writes config and reloads (SIGHUP); waits until GET / answers body."""
        self.write_config(config)
        self.signal(signal.SIGHUP)
        wait_for(lambda: self.get_body() == body, 10, what=f"the reload to {body!r} to be served")

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"hellod did not stop within {timeout}s:\n{self.log()}")

    def cpu_seconds(self):
        """utime + stime of the process, from /proc."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def close(self):
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def recv_until_close(sock, limit=1 << 24):
    """Reads everything until the peer closes or resets (or limit bytes); a
    socket timeout fails the test, naming what had arrived."""
    chunks = []
    total = 0
    while total < limit:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise AssertionError(f"no close within {sock.gettimeout()}s; received "
                                 f"{b''.join(chunks)[:2000]!r}") from None
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def exchange(port, payload, timeout=5.0, shut_write=False):
    """Sends raw bytes on a new connection and returns all bytes until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        return recv_until_close(sock)


def read_response(sock):
    """Reads one HTTP/1.1 response with a Content-Length; returns (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"connection closed mid-response: {buf!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise AssertionError("connection closed mid-body")
        rest += data
    return status, headers, rest[:length], rest[length:]


def split_responses(data):
    """Splits concatenated responses (each with Content-Length) into a list of (status, headers, body)."""
    out = []
    while data:
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


def has_test_hooks():
    """True when HELLOD was built with -DHELLOD_TEST_HOOKS=ON (SIGUSR1/SIGUSR2 block a worker)."""
    with open(HELLOD, "rb") as binary:
        return b"test hook: worker" in binary.read()


def listening_socket(family=socket.AF_INET, address=("127.0.0.1", 0), kind=socket.SOCK_STREAM):
    """A bound (and, for streams, listening) socket owned by the test, for socket activation."""
    sock = socket.socket(family, kind)
    if family != socket.AF_UNIX:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    return sock


# Runs in the child: moves the passed sockets to fds 3, 4, ..., sets
# LISTEN_PID to its own PID and execs hellod in place, so the PID matches as
# sd_listen_fds(3) requires. argv: SOURCE_FDS(comma-separated) CMD...
_ACTIVATION_SHIM = """
import os, sys
sources = [int(fd) for fd in sys.argv[1].split(",")]
high = [os.dup2(fd, 100 + i) for i, fd in enumerate(sources)]
for fd in sources:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def socket_activation(sockets, names=None):
    """Hellod(**kwargs) that pass `sockets` the way systemd does (sd_listen_fds(3)).

    The sockets land on fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and
    LISTEN_PID set; merge your own env into the returned "env".
    """
    fds = [s.fileno() for s in sockets]
    names = names or ["http"] * len(fds)
    return {
        "wrapper": [sys.executable, "-c", _ACTIVATION_SHIM, ",".join(map(str, fds))],
        "env": {"LISTEN_FDS": str(len(fds)), "LISTEN_FDNAMES": ":".join(names)},
        "pass_fds": tuple(fds),
    }


# Sanitizer builds (scripts/test.sh) set ASAN_OPTIONS/UBSAN_OPTIONS/
# TSAN_OPTIONS with log_path=$HELLOD_SANITIZER_REPORTS/<name>, so a report
# from a hellod child lands in <name>.<pid> there instead of a log nobody reads.
SANITIZER_REPORTS = os.environ.get("HELLOD_SANITIZER_REPORTS", "")


def sanitizer_reports(pid=None):
    """Texts of the sanitizer reports written so far (by process `pid` only, if given)."""
    if not SANITIZER_REPORTS or not os.path.isdir(SANITIZER_REPORTS):
        return []
    reports = []
    for name in sorted(os.listdir(SANITIZER_REPORTS)):
        if pid is not None and not name.endswith(f".{pid}"):
            continue
        with open(os.path.join(SANITIZER_REPORTS, name), errors="replace") as f:
            reports.append(f"{name}:\n{f.read()}")
    return reports


def traced_sanitizer_env(env=None):
    """Environment changes for running hellod under ptrace (strace, gdb):
    LeakSanitizer cannot work there and would fail the process at exit, so
    leak checking is switched off for that run only. Merge into the child's env."""
    env = os.environ if env is None else env
    if "ASAN_OPTIONS" not in env:
        return {}
    return {"ASAN_OPTIONS": env["ASAN_OPTIONS"] + ":detect_leaks=0"}


def assert_no_sanitizer_reports(server):
    """Fails when the sanitizers reported anything about this hellod process."""
    reports = sanitizer_reports(server.proc.pid)
    if reports:
        raise AssertionError("sanitizer report from hellod:\n" + "\n".join(reports))


class SyscallTrace:
    """strace -f attached to a running hellod, writing the calls named in
    `calls` (strace's -e trace= list) to a file. `skip` holds why not when
    strace is missing or cannot attach here (ptrace refused)."""

    def __init__(self, pid, calls, string_size=32):
        self.skip = None
        if shutil.which("strace") is None:
            self.skip = "strace is not installed (apt-get install strace)"
            return
        self._dir = tempfile.mkdtemp(prefix="hellod-strace-")
        self.path = os.path.join(self._dir, "trace")
        self._proc = subprocess.Popen(
            ["strace", "-f", "-s", str(string_size), "-e", f"trace={calls}", "-o", self.path,
             "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        attached = self._proc.stderr.readline().decode()
        self._proc.stderr.close()
        if "attached" not in attached:
            self._proc.wait(5)
            shutil.rmtree(self._dir, True)
            self.skip = f"strace cannot attach here: {attached.strip()}"

    def text(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def detach(self):
        """SIGINT: strace detaches and flushes its output."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            self._proc.wait(10)

    def close(self):
        self.detach()
        shutil.rmtree(self._dir, True)


class HellodTestCase(unittest.TestCase):
    """Base class: self.start(config) returns a running Hellod, stopped at teardown."""

    def start(self, config="", **kwargs):
        server = Hellod(config, **kwargs)
        # Cleanups run last-in first-out: the check runs once hellod is gone.
        self.addCleanup(assert_no_sanitizer_reports, server)
        self.addCleanup(server.close)
        return server

    def trace(self, server, calls, string_size=32):
        """A SyscallTrace of the running server, detached at teardown; skips
        the test where strace cannot run."""
        trace = SyscallTrace(server.proc.pid, calls, string_size)
        if trace.skip is not None:
            self.skipTest(trace.skip)
        self.addCleanup(trace.close)
        return trace
