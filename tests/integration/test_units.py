# SPDX-License-Identifier: MIT
"""The systemd units in systemd/: they verify, rate <= 1.5 on `systemd-analyze
security`, say what issue 3 asks, and their ExecReload works without procps."""

import configparser
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest

from hellod_harness import HELLOD, SOURCE_DIR, HellodTestCase
from notify_receiver import NotifyReceiver

UNITS = os.path.join(SOURCE_DIR, "systemd")
SERVICE = os.path.join(UNITS, "hellod.service")
SOCKET = os.path.join(UNITS, "hellod.socket")
MAX_EXPOSURE = 1.5
# limits.max_connections' default plus the descriptors hellod needs besides
# its connections (listeners, loops, journal), see supervisor.cpp.
NEEDED_DESCRIPTORS = 10_000 + 64


def read_unit(path):
    """The unit's settings as {section: {key: [values in order]}}."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                          dict_type=_MultiDict)
    parser.optionxform = str
    with open(path) as unit:
        parser.read_file(unit)
    return {section: {key: value.split("\n") for key, value in parser.items(section)}
            for section in parser.sections()}


class _MultiDict(dict):
    """Lets configparser keep repeated keys (ExecReload=, SystemCallFilter=) in order."""

    def __setitem__(self, key, value):
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def analyze_available():
    return shutil.which("systemd-analyze") is not None


@unittest.skipUnless(analyze_available(), "systemd-analyze not installed")
class UnitFileTest(unittest.TestCase):
    def test_units_pass_systemd_analyze_verify(self):
        """Both units verify cleanly, with ExecStart/ExecReload pointed at the built binary
        (verify insists the binary exists; the installed path does not here)."""
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("hellod.service", "hellod.socket"):
                with open(os.path.join(UNITS, name)) as source:
                    text = source.read().replace("/usr/sbin/hellod", os.path.abspath(HELLOD))
                with open(os.path.join(tmp, name), "w") as copy:
                    copy.write(text)
            result = subprocess.run(
                ["systemd-analyze", "verify", "--man=no",
                 os.path.join(tmp, "hellod.service"), os.path.join(tmp, "hellod.socket")],
                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr.strip(), "", "verify warned")

    def test_verify_fails_on_a_broken_unit(self):
        """The verify check can fail: a unit with an unknown Type= is rejected."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "hellod.service")
            with open(SERVICE) as source, open(path, "w") as copy:
                copy.write(source.read().replace("/usr/sbin/hellod", os.path.abspath(HELLOD))
                           .replace("Type=notify", "Type=notify-reload"))
            result = subprocess.run(["systemd-analyze", "verify", "--man=no", path],
                                    capture_output=True, text=True, timeout=60)
        self.assertIn("Failed to parse service type", result.stderr)

    def test_security_exposure_is_at_most_1_5(self):
        """systemd-analyze security --offline=true rates hellod.service <= 1.5."""
        result = subprocess.run(["systemd-analyze", "security", "--offline=true", SERVICE],
                                capture_output=True, text=True, timeout=60)
        match = re.search(r"Overall exposure level for hellod\.service: (\d+\.\d+)", result.stdout)
        self.assertIsNotNone(match, result.stdout + result.stderr)
        self.assertLessEqual(float(match.group(1)), MAX_EXPOSURE, result.stdout)

    def test_service_settings(self):
        """Type=notify, NotifyAccess=main, the ExecStart/ExecReload pair, Restart, watchdog,
        DynamicUser and enough descriptors for limits.max_connections."""
        service = read_unit(SERVICE)["Service"]
        self.assertEqual(service["Type"], ["notify"])
        self.assertEqual(service["NotifyAccess"], ["main"])
        self.assertEqual(service["ExecStart"], ["/usr/sbin/hellod --config /etc/hellod.yaml"])
        self.assertEqual(service["ExecReload"][0],
                         "/usr/sbin/hellod --check-config --config /etc/hellod.yaml")
        self.assertNotIn("/bin/kill", " ".join(service["ExecReload"]))  # procps is not on minbase
        self.assertEqual(service["Restart"], ["on-failure"])
        self.assertRegex(service["WatchdogSec"][0], r"^\d+s$")
        self.assertEqual(service["DynamicUser"], ["yes"])
        self.assertGreaterEqual(int(service["LimitNOFILE"][0]), NEEDED_DESCRIPTORS)
        for setting in ("ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                        "PrivateDevices=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
                        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                        "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes"):
            key, value = setting.split("=", 1)
            self.assertIn(value, service.get(key, []), setting)

    def test_socket_settings(self):
        """hellod.socket listens on 8080 and names its fd "http"."""
        socket_unit = read_unit(SOCKET)["Socket"]
        self.assertEqual(socket_unit["ListenStream"], ["8080"])
        self.assertEqual(socket_unit["FileDescriptorName"], ["http"])


def syscall_groups():
    """{"@group": [syscalls and @subgroups]} from systemd-analyze syscall-filter."""
    listing = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    groups, current = {}, None
    for line in listing.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names, groups):
    calls = set()
    for name in names:
        calls |= expand(groups.get(name, []), groups) if name.startswith("@") else {name}
    return calls


@unittest.skipUnless(analyze_available() and shutil.which("strace"), "needs systemd-analyze, strace")
class SystemCallFilterTest(HellodTestCase):
    def test_every_syscall_hellod_makes_passes_the_units_filter(self):
        """Under strace, hellod serves TCP and unix clients, logs access lines, reloads and
        stops using only system calls the unit's SystemCallFilter= lines allow."""
        allowed, denied = set(), set()
        groups = syscall_groups()
        for line in read_unit(SERVICE)["Service"]["SystemCallFilter"]:
            if line.startswith("~"):
                denied |= expand(line[1:].split(), groups)
            else:
                allowed |= expand(line.split(), groups)
        trace = os.path.join(tempfile.mkdtemp(prefix="hellod-strace-"), "trace")
        self.addCleanup(shutil.rmtree, os.path.dirname(trace), True)
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        unix_path = os.path.join(os.path.dirname(trace), "hellod.sock")
        config = (f'listen: ["127.0.0.1:0", "unix:{unix_path}"]\nworkers: 2\n'
                  "log:\n  access: true\n")
        server = self.start(config, env=notify.env,
                            wrapper=["strace", "-f", "-qq", "-o", trace])
        for args in (["http://127.0.0.1:%d/" % server.port] * 2,
                     ["--unix-socket", unix_path, "http://x/"]):
            subprocess.run(["curl", "-sf", *args], capture_output=True, timeout=10, check=True)
        hellod_pid = notify.wait_key("READY").pid  # server.proc is strace
        os.kill(hellod_pid, signal.SIGHUP)
        notify.wait_key("READY", count=2)
        os.kill(hellod_pid, signal.SIGTERM)
        self.assertEqual(server.proc.wait(15), 0)
        with open(trace) as lines:
            used = {match.group(1) for line in lines
                    if (match := re.match(r"\d+\s+([a-z0-9_]+)\(", line))}
        used.discard("execve")  # strace's own exec of hellod
        self.assertGreater(len(used), 20, used)
        self.assertEqual(sorted(used - allowed), [], "not in the allow list")
        self.assertEqual(sorted(used & denied), [], "denied by ~ lines")


@unittest.skipUnless(os.path.exists("/bin/sh"), "no /bin/sh")
class ExecReloadTest(HellodTestCase):
    """Runs the unit's ExecReload= commands as systemd would, with $MAINPID set and
    no kill(1) binary reachable, against a running hellod."""

    def exec_reload(self, server):
        commands = read_unit(SERVICE)["Service"]["ExecReload"]
        env = {"MAINPID": str(server.proc.pid), "PATH": "/nonexistent"}  # no /bin/kill
        for command in commands:
            argv = _split_exec(command.replace("/usr/sbin/hellod", os.path.abspath(HELLOD))
                               .replace("/etc/hellod.yaml", server.config_path))
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                return result  # systemd stops at the first failing ExecReload=
        return result

    def test_exec_reload_reloads_without_procps(self):
        """check-config passes, then the shell's builtin kill sends SIGHUP to $MAINPID."""
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start('response:\n  body: "old"\n', env=notify.env)
        server.write_config('listen: ["127.0.0.1:0"]\nresponse:\n  body: "new"\n')
        result = self.exec_reload(server)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(notify.wait_key("READY", count=2)["STATUS"][:9], "reloaded;")

    def test_exec_reload_with_a_broken_file_fails_at_once_and_sends_nothing(self):
        """A broken file: the check fails with file:line:col and hellod gets no SIGHUP."""
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        server = self.start("", env=notify.env)
        notify.wait_key("READY")
        server.write_config('listen: ["127.0.0.1:0"]\nworkers: many\n')
        result = self.exec_reload(server)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, r"hellod\.yaml:2:10: workers")
        self.assertEqual(server.stop(), 0)
        notify.wait_key("STOPPING")
        self.assertEqual(notify.with_key("RELOADING"), [])


def _split_exec(command):
    """Splits an Exec= line the way systemd.service(5) quotes: shlex is close enough here."""
    return shlex.split(command)


if __name__ == "__main__":
    unittest.main()
