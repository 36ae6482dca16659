# SPDX-License-Identifier: MIT
"""The two servers under test: hellod and nginx, started on loopback.

Each server runs in the foreground as a child of bench.py, on a port of its
own (hellod picks one itself and logs it; nginx gets a port the kernel just
handed out), and is stopped with SIGTERM, then SIGKILL, so no process is left
behind. Both expose the pids whose CPU time and memory count.
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
NOFILE = 20000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pids):
    """utime + stime of the given processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return total / CLOCK_TICKS


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

    def __init__(self, workers, cpus=None, wrapper=None):
        self.workers = workers
        self.cpus = cpus
        self.wrapper = list(wrapper or [])
        self.dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.port = None

    def command(self):
        raise NotImplementedError

    def start(self, timeout=30):
        cmd = self.wrapper + self.command()
        if self.cpus:
            cmd = ["taskset", "-c", ",".join(map(str, self.cpus))] + cmd
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.port = self.wait_port(timeout)
        wait_for(lambda: accepts(self.port), timeout, f"{self.name} to accept")
        wait_for(lambda: len(self.serving_pids()) >= self.expected_processes(), timeout,
                 f"{self.name} worker processes")
        return self

    def wait_port(self, timeout):
        raise NotImplementedError

    def expected_processes(self):
        return 1

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

    def __init__(self, binary, workers, cpus=None, wrapper=None, max_connections=NOFILE):
        super().__init__(workers, cpus, wrapper)
        self.binary = binary
        self.config_path = os.path.join(self.dir, "hellod.yaml")
        with open(self.config_path, "w") as f:
            f.write(f"""listen: ["127.0.0.1:0"]
workers: {workers}
response:
  content_type: "text/plain; charset=utf-8"
  body: "Hello, World!\\n"
limits:
  max_connections: {max_connections}
  keepalive_requests: 1000000000
timeouts:
  keepalive: 300s
log:
  level: info
  access: false
  target: stderr
""")

    def command(self):
        return [self.binary, "--config", self.config_path]

    def wait_port(self, timeout):
        def port():
            self.check_alive()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            return int(match.group(1)) if match else None
        return wait_for(port, timeout, "hellod's 'listening on' log line")


class Nginx(Server):
    name = "nginx"

    def __init__(self, workers, cpus=None, wrapper=None, master_process=True,
                 binary="/usr/sbin/nginx"):
        super().__init__(workers, cpus, wrapper)
        self.binary = binary
        self.master_process = master_process
        self.chosen_port = free_port()
        with open(os.path.join(BENCH_DIR, "nginx.conf.in")) as f:
            template = f.read()
        fields = {"PREFIX": self.dir, "WORKERS": str(workers), "NOFILE": str(NOFILE),
                  "WORKER_CONNECTIONS": str(NOFILE), "PORT": str(self.chosen_port),
                  "MASTER_PROCESS": "on" if master_process else "off"}
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
