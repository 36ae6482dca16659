# SPDX-License-Identifier: MIT
"""A booted Debian in systemd-nspawn for the e2e test, and the helpers its steps share.

The root filesystem is debootstrapped once per package list from the mirror
this machine's apt uses (apt_sources.py) and cached; each run boots it under
an overlay with systemd as PID 1 and a private network, and commands run
inside through nsenter.
"""

import ctypes
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import apt_sources

# What a booted, curl-able system needs besides the package's own Depends.
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "curl"]
# Bumped when the way a cached root filesystem is prepared changes.
ROOTFS_RECIPE = "1"

# nsenter hands our environment to the command: give it a clean one.
INSIDE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "TERM": "dumb",
    "SYSTEMD_PAGER": "cat",
    "SYSTEMD_COLORS": "0",
    "DEBIAN_FRONTEND": "noninteractive",
}


class StepFailed(Exception):
    """An assertion of one step did not hold."""


def log(message=""):
    print(message, flush=True)


def run(cmd, timeout=600, check=True, **kwargs):
    """Runs a host command; on failure raises with its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
    return result


def expect(condition, message):
    if not condition:
        raise StepFailed(message)


def wait_for(predicate, timeout, what, interval=0.1):
    """Polls predicate until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise StepFailed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# The cached root filesystem


def real_packages(names):
    """Maps virtual packages (e.g. libspdlog1.10-fmt9) to ones that provide them."""
    shown = run(["apt-cache", "show", "--no-all-versions", *names], check=False).stdout
    real = set(re.findall(r"^Package: (\S+)$", shown, re.MULTILINE))
    packages = []
    for name in names:
        if name in real:
            packages.append(name)
            continue
        lines = run(["apt-cache", "showpkg", name]).stdout.splitlines()
        providers = lines[lines.index("Reverse Provides: ") + 1:] if "Reverse Provides: " in lines \
            else []
        if not providers or not providers[0].strip():
            raise RuntimeError(f"no package provides {name}")
        packages.append(providers[0].split()[0])
    return packages


def runtime_packages(deb):
    """The .deb's Depends as installable package names (first alternatives)."""
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    names = []
    for clause in depends.split(","):
        name = clause.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name:
            names.append(name)
    return real_packages(names)


def cached_rootfs(work_dir, packages):
    """A debootstrapped Debian of the host's release with packages, built once per list.

    The mirror is the one this machine's apt uses (a machine behind a local
    mirror works as it is); a keyring or trusted=yes from that source entry
    and apt's proxy setting are passed on to debootstrap.
    """
    suite = apt_sources.host_codename()
    include = sorted(set(BASE_PACKAGES + packages))
    key = hashlib.sha256("\n".join([ROOTFS_RECIPE, suite, *include]).encode()).hexdigest()[:12]
    rootfs = work_dir / f"rootfs-{key}"
    if (rootfs / "etc" / "hellod-e2e-ready").exists():
        log(f"root filesystem: cached {rootfs.name} ({','.join(include)})")
        return rootfs
    for stale in work_dir.glob("rootfs-*"):  # other package lists or half-done builds
        shutil.rmtree(stale, ignore_errors=True)
    mirror = apt_sources.debootstrap_mirror(suite)
    log(f"root filesystem: debootstrap {suite} from {mirror.uri} ({mirror.origin}) "
        f"with {','.join(include)} ...")
    started = time.monotonic()
    run(["debootstrap", "--variant=minbase", f"--include={','.join(include)}",
         *mirror.debootstrap_options, suite, str(rootfs), mirror.uri], timeout=900,
        env={**os.environ, **apt_sources.apt_proxy_environment()})
    (rootfs / "etc" / "hostname").write_text("hellod-e2e\n")
    # Written last: a cache without it is a half-done debootstrap.
    (rootfs / "etc" / "hellod-e2e-ready").write_text(" ".join(include) + "\n")
    log(f"root filesystem: built in {time.monotonic() - started:.0f} s")
    return rootfs


def remove_stale_runs(work_dir):
    """Cleans run directories whose test process died without its teardown."""
    for run_dir in work_dir.glob("run-*"):
        pid = run_dir.name.removeprefix("run-")
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue
        unmount(run_dir / "root")
        shutil.rmtree(run_dir, ignore_errors=True)


def is_mounted(path):
    target = str(path.resolve())
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


def unmount(path):
    if path.exists() and is_mounted(path):
        if run(["umount", str(path)], check=False).returncode != 0:
            run(["umount", "-l", str(path)], check=False)


def writable_copy(rootfs, run_dir):
    """The cached rootfs under an overlay (or copied), so the cache stays clean."""
    root = run_dir / "root"
    for name in ("upper", "work", "root"):
        (run_dir / name).mkdir(parents=True)
    options = f"lowerdir={rootfs},upperdir={run_dir / 'upper'},workdir={run_dir / 'work'}"
    if run(["mount", "-t", "overlay", "overlay", "-o", options, str(root)],
           check=False).returncode == 0:
        return root, "overlay"
    run(["cp", "-a", "--reflink=auto", f"{rootfs}/.", str(root)])
    return root, "copy"


# --------------------------------------------------------------------------
# The booted container


def die_with_parent():
    """In the nspawn child: if the test process dies, power the container off."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Container:
    """systemd-nspawn booting root; commands run inside through nsenter."""

    def __init__(self, root, name, console_log):
        self.root = root
        self.name = name
        self.console_log = console_log
        self.nspawn = None
        self.init_pid = None

    def boot(self):
        # --register=no --keep-unit: no machined here, and without --keep-unit
        # nspawn fails with "Failed to open system bus" on this kind of host.
        with open(self.console_log, "wb") as console:
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "-q", "-D", str(self.root), "-M", self.name,
                 "--register=no", "--keep-unit", "-b", "--private-network"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent)
        self.init_pid = wait_for(self._find_init, 30, "the container's systemd to start")
        # Until PID 1 has set up its private socket, systemctl cannot connect
        # and prints nothing on stdout: ask again.
        state = wait_for(self._system_state, 120, "systemctl is-system-running --wait",
                         interval=0.2)
        if state != "running":
            failed = self.inside("systemctl", "--failed", "--no-legend", check=False).stdout
            if state != "degraded":
                raise RuntimeError(f"container did not boot: {state}\n{failed}")
            log(f"container: degraded; failed units:\n{failed}")
        return state

    def _system_state(self):
        state = self.inside("systemctl", "is-system-running", "--wait", check=False,
                            timeout=120).stdout.strip()
        return state if state in ("running", "degraded", "maintenance", "stopping") else None

    def _find_init(self):
        if self.nspawn.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited {self.nspawn.returncode}; "
                               f"see {self.console_log}")
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        for pid in children.read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return pid
            except FileNotFoundError:
                pass
        return None

    def inside(self, *cmd, input=None, check=True, timeout=60):
        result = subprocess.run(["nsenter", "-t", self.init_pid, "-a", "--", *cmd],
                                input=input, capture_output=True, text=True, timeout=timeout,
                                env=INSIDE_ENV)
        if check and result.returncode != 0:
            raise StepFailed(f"`{' '.join(cmd)}` exited {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
        return result

    def in_network(self, *cmd):
        """A host command line that runs cmd in the container's network namespace only.

        Host programs (e.g. this directory's load client under the test's own
        python3) then reach the container's 127.0.0.1 while the container's
        file system stays as an administrator's would be.
        """
        return ["nsenter", "-t", self.init_pid, "-n", "--", *cmd]

    def teardown(self):
        """SIGTERM powers the container off; a second one, then SIGKILL, force it."""
        if self.nspawn is None:
            return
        for sig, wait in ((signal.SIGTERM, 60), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if self.nspawn.poll() is not None:
                break
            self.nspawn.send_signal(sig)
            try:
                self.nspawn.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        # Should nspawn have died first, killing the init ends its PID namespace.
        if self.init_pid and Path(f"/proc/{self.init_pid}").exists():
            try:
                os.kill(int(self.init_pid), signal.SIGKILL)
            except ProcessLookupError:
                pass

