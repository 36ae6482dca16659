# SPDX-License-Identifier: MIT
"""The servers under test: hellod, nginx and h2o, started on loopback, and the
floor (bench/floor_server.cpp), a server that does no HTTP work.

Each server runs in the foreground as a child of bench.py, on a port of its
own (hellod picks one itself and logs it; nginx and h2o get a port the kernel
just handed out), and is stopped with SIGTERM, then SIGKILL, so no process is
left behind. All expose the pids whose CPU time and memory count.

Every server answers GET /p1 (the path every client asks for) with 200,
Content-Type "text/plain; charset=utf-8" and BODY.
"""

import glob
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import yaml

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
NOFILE = 20000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BODY = "Hello, World!\n"
CONTENT_TYPE = "text/plain; charset=utf-8"
PATH = "/p1"  # the request target of every client
# The user h2o switches to when started as root (its default).
H2O_USER = "nobody"


def wait_for(condition, timeout, what):
    """Polls condition() until it returns something truthy; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def free_port():
    """A loopback port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def cpu_times(pids):
    """(utime, stime) of the given processes (all their threads), in seconds."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        user += int(fields[11])  # utime: field 14
        system += int(fields[12])  # stime: field 15
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def written_bytes(pids):
    """Bytes the given processes passed to write-family calls (wchar in /proc/PID/io)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/io") as f:
                match = re.search(r"^wchar:\s+(\d+)", f.read(), re.M)
        except FileNotFoundError:
            continue
        total += int(match.group(1)) if match else 0
    return total


def sleeps(pids):
    """Times the given processes' threads blocked (voluntary_ctxt_switches of
    /proc/PID/task/TID/status): for an event loop, an epoll_wait that found
    nothing ready and slept until a client woke it."""
    total = 0
    for pid in pids:
        for status in glob.glob(f"/proc/{pid}/task/*/status"):
            try:
                with open(status) as f:
                    match = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M)
            except FileNotFoundError:
                continue  # a thread that ended
            total += int(match.group(1)) if match else 0
    return total


def tcp_segments_sent():
    """TCP segments this host has sent (/proc/net/snmp, Tcp OutSegs). On
    loopback every segment is sent once, by one side or the other, so the
    difference over a run of one server's clients counts both directions."""
    with open("/proc/net/snmp") as f:
        tcp = [line.split()[1:] for line in f if line.startswith("Tcp:")]
    names, values = tcp
    return int(values[names.index("OutSegs")])


def rss_kib(pids):
    """VmRSS summed over the given processes, in KiB."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            match = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
        total += int(match.group(1)) if match else 0
    return total


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except FileNotFoundError:
        return []


class Server:
    """A server process; subclasses build the command and find the port."""

    name = "server"

    def __init__(self, workers, cpus=None, wrapper=None, variant=None):
        self.workers = workers
        self.cpus = cpus
        self.wrapper = list(wrapper or [])
        self.variant = variant  # a configuration variant's name, or None for the baseline
        self.dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.port = None

    @property
    def key(self):
        """How results name this server: "hellod", or "hellod:VARIANT"."""
        return self.name if self.variant is None else f"{self.name}:{self.variant}"

    def command(self):
        raise NotImplementedError

    def start(self, timeout=30):
        cmd = self.wrapper + self.command()
        if self.cpus:
            cmd = ["taskset", "-c", ",".join(map(str, self.cpus))] + cmd
        self._log = self.open_log()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.port = self.wait_port(timeout)
        wait_for(lambda: accepts(self.port), timeout, f"{self.name} to accept")
        wait_for(lambda: len(self.serving_pids()) >= self.expected_processes(), timeout,
                 f"{self.name} worker processes")
        return self

    def wait_port(self, timeout):
        raise NotImplementedError

    def logged_port(self, timeout):
        """The port of the server's "listening on 127.0.0.1:PORT" line, once
        its log has one (hellod's, the floor's)."""
        def port():
            self.check_alive()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            return int(match.group(1)) if match else None
        return wait_for(port, timeout, f"{self.name}'s 'listening on' line")

    def expected_processes(self):
        return 1

    def open_log(self):
        return open(self.log_path, "wb")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log()[-2000:]}")

    def serving_pids(self):
        """The processes that serve requests and whose CPU and RSS count."""
        return [self.proc.pid]

    def all_pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def stop(self, timeout=60):
        """SIGTERM, wait, then SIGKILL whatever is left of the process tree."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = self.all_pids()
        self.proc.send_signal(signal.SIGTERM)
        # A process a debugger left stopped (vgdb, under callgrind) acts on
        # SIGTERM only once it runs again.
        self.proc.send_signal(signal.SIGCONT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)
        for pid in pids[1:]:  # nginx workers normally exit with their master
            wait_for(lambda: not os.path.exists(f"/proc/{pid}/stat") or _zombie(pid), 10,
                     f"process {pid} to exit")
        self._log.close()


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class Hellod(Server):
    name = "hellod"

    def __init__(self, binary, workers, cpus=None, wrapper=None, max_connections=NOFILE,
                 variant=None, snippet=None):
        """snippet: a variant's YAML text, merged over the baseline configuration."""
        super().__init__(workers, cpus, wrapper, variant)
        self.binary = binary
        self.config_path = os.path.join(self.dir, "hellod.yaml")
        config = merge(baseline_config(workers, max_connections),
                       yaml.safe_load(fill_free_ports(snippet or "")) or {})
        # An access log writes a line per request to stderr, so stderr goes
        # to /dev/null (the cheapest sink: the write itself, nothing behind
        # it) and the port is chosen here instead of read from the log.
        self.quiet = config.get("log", {}).get("access", False) not in (False, None)
        self.chosen_port = free_port() if self.quiet else None
        if self.quiet:
            config["listen"] = [f"127.0.0.1:{self.chosen_port}"]
        with open(self.config_path, "w") as f:
            f.write(dump_yaml(config))

    def command(self):
        return [self.binary, "--config", self.config_path]

    def check_config(self):
        """None when this build accepts the configuration, else hellod's reason."""
        result = subprocess.run([self.binary, "--check-config", "--config", self.config_path],
                                capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            return None
        lines = (result.stderr or result.stdout).strip().splitlines()
        return lines[0] if lines else f"exit status {result.returncode}"

    def open_log(self):
        return open(os.devnull, "wb") if self.quiet else super().open_log()

    def wait_port(self, timeout):
        if self.quiet:
            self.check_alive()
            return self.chosen_port

        return self.logged_port(timeout)


def baseline_config(workers, max_connections):
    """hellod's baseline: one response for every path, no metrics, no access log."""
    return {"listen": ["127.0.0.1:0"], "workers": workers,
            "response": {"content_type": CONTENT_TYPE, "body": BODY},
            "limits": {"max_connections": max_connections,
                       "keepalive_requests": 1000000000},
            "timeouts": {"keepalive": "300s"},
            "log": {"level": "info", "access": False, "target": "stderr"}}


class _Dumper(yaml.SafeDumper):
    """Writes strings with line breaks double-quoted ("Hello, World!\\n")."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style='"' if "\n" in value else None))


def dump_yaml(document):
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def merge(base, snippet):
    """base with snippet laid over it: maps merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in snippet.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def fill_free_ports(text):
    """Replaces each @FREE_PORT@ with a loopback port nobody listens on now."""
    while "@FREE_PORT@" in text:
        text = text.replace("@FREE_PORT@", str(free_port()), 1)
    return text


class Nginx(Server):
    name = "nginx"

    def __init__(self, workers, cpus=None, wrapper=None, master_process=True,
                 binary="/usr/sbin/nginx", variant=None, exact_locations=0):
        """exact_locations: N adds `location = /p2 ... /pN, /p1 { return 200 ...; }`."""
        super().__init__(workers, cpus, wrapper, variant)
        self.binary = binary
        self.master_process = master_process
        self.chosen_port = free_port()
        with open(os.path.join(BENCH_DIR, "nginx.conf.in")) as f:
            template = f.read()
        body = BODY.replace("\n", "\\n")
        locations = "".join(f'    location = {path} {{ return 200 "{body}"; }}\n'
                            for path in exact_paths(exact_locations))
        fields = {"PREFIX": self.dir, "WORKERS": str(workers), "NOFILE": str(NOFILE),
                  "WORKER_CONNECTIONS": str(NOFILE), "PORT": str(self.chosen_port),
                  "MASTER_PROCESS": "on" if master_process else "off",
                  "BODY": body, "EXACT_LOCATIONS": locations}
        for key, value in fields.items():
            template = template.replace(f"@{key}@", value)
        self.config_path = os.path.join(self.dir, "nginx.conf")
        with open(self.config_path, "w") as f:
            f.write(template)

    def command(self):
        return [self.binary, "-p", self.dir + "/", "-c", self.config_path,
                "-e", os.path.join(self.dir, "error.log")]

    def wait_port(self, timeout):
        self.check_alive()
        return self.chosen_port

    def expected_processes(self):
        return self.workers if self.master_process else 1

    def serving_pids(self):
        if not self.master_process:
            return [self.proc.pid]
        return children(self.proc.pid)

    def log(self):
        text = super().log()
        error_log = os.path.join(self.dir, "error.log")
        if os.path.exists(error_log):
            with open(error_log) as f:
                text += f.read()
        return text


def exact_paths(count):
    """/p2 ... /pN then /p1: the path clients ask for comes last in file order,
    so a first-match scan would pay for every route before it."""
    if count <= 0:
        return []
    return [f"/p{i}" for i in range(2, count + 1)] + ["/p1"]


class H2o(Server):
    """h2o 2.2 (Debian's package): one process, `num-threads` event loops.

    The body is a file in a `file.dir` (h2o has no inline response short of
    mruby), served with the same Content-Type; h2o adds Last-Modified and
    Accept-Ranges of its own. Started as root, h2o switches to nobody after
    binding (its `user` default), so its files are world-readable. Under
    callgrind it stays root (`user: root`): valgrind's output file and the
    FIFOs callgrind_control talks through belong to the user valgrind started
    as, and after the switch h2o could neither write the one nor answer on
    the others (tried: the dump fails, and vgdb hangs).
    """

    name = "h2o"

    def __init__(self, workers, cpus=None, wrapper=None, binary="/usr/bin/h2o",
                 stay_root=False):
        super().__init__(workers, cpus, wrapper)
        self.binary = binary
        self.chosen_port = free_port()
        os.chmod(self.dir, 0o755)  # mkdtemp's 0700 would keep nobody out
        docroot = os.path.join(self.dir, "www")
        os.mkdir(docroot)
        os.chmod(docroot, 0o755)
        with open(os.path.join(docroot, PATH.lstrip("/")), "w") as f:
            f.write(BODY)
        os.chmod(os.path.join(docroot, PATH.lstrip("/")), 0o644)
        config = {
            "user": "root" if stay_root else H2O_USER,
            # Defaults read from h2o 2.2's documentation and checked here:
            # num-threads defaults to the CPU count, max-connections to 1024,
            # http1-request-timeout (also the keep-alive idle timeout) to 10 s,
            # tcp-fastopen to 4096 on Linux, listen to every address; access-log
            # is off unless configured; error-log is stderr.
            "num-threads": workers,
            "max-connections": NOFILE - 1000,
            "http1-request-timeout": 300,
            "tcp-fastopen": 0,
            "listen": {"host": "127.0.0.1", "port": self.chosen_port},
            "hosts": {"default": {"paths": {"/": {
                "file.dir": docroot,
                "file.mime.setdefaulttype": CONTENT_TYPE,  # the body file has no extension
                "file.etag": "OFF",
                "file.dirlisting": "OFF"}}}},
        }
        self.config_path = os.path.join(self.dir, "h2o.conf")
        with open(self.config_path, "w") as f:
            f.write(dump_yaml(config))
        os.chmod(self.config_path, 0o644)

    def command(self):
        return [self.binary, "-c", self.config_path]

    def wait_port(self, timeout):
        self.check_alive()
        return self.chosen_port

    def serving_pids(self):
        # h2o's threads are one process; its child (a perl crash-report
        # helper, annotate-backtrace-symbols) serves nothing.
        return [self.proc.pid]


class Floor(Server):
    """bench/floor_server.cpp: the same response bytes for every request head,
    with no HTTP work; what the kernel's loopback TCP work alone allows."""

    name = "floor"

    def __init__(self, binary, response, cpus=None):
        """response: the bytes to send for every request (hellod's, see
        fetch_response)."""
        super().__init__(1, cpus)
        self.binary = binary
        self.response_path = os.path.join(self.dir, "response")
        with open(self.response_path, "wb") as f:
            f.write(response)

    def command(self):
        return [self.binary, self.response_path]

    def wait_port(self, timeout):
        return self.logged_port(timeout)


def fetch_response(port, timeout=10):
    """The bytes of a server's whole response to the clients' request (GET
    PATH, kept alive), head and Content-Length body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while True:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                length = re.search(rb"\r\ncontent-length: *(\d+)", data[:head_end], re.I)
                if length is None:
                    raise RuntimeError(f"no Content-Length in {data[:head_end]!r}")
                total = head_end + 4 + int(length.group(1))
                if len(data) >= total:
                    return data[:total]
            chunk = client.recv(65536)
            if not chunk:
                raise RuntimeError(f"connection closed after {data!r}")
            data += chunk
