# SPDX-License-Identifier: MIT
"""The e2e step for the drain before a stop (service mode).

With `health: {path: /healthz, drain: 3s}` in /etc/hellod.yaml, `systemctl
stop hellod` must first fail the health route (503) while another route
keeps answering 200, then stop, leaving the unit inactive (not failed), in
about the drain's time. Two bounded curl loops run inside the container, one
per route, and print a wall-clock time with each status, so the timeline can
be laid against the stop. A second part checks the interaction with
TimeoutStopSec=: a drain longer than the unit's stop timeout must still end
cleanly, because hellod sends EXTEND_TIMEOUT_USEC= at the first SIGTERM.
Mixed into run_e2e.Steps, whose helpers (curl, config, ...) it uses.
"""

import subprocess
import threading
import time

from nspawn import INSIDE_ENV, StepFailed, expect, wait_for

DRAIN = 3  # seconds of health.drain in the first part
LONG_DRAIN = 8  # seconds, against TimeoutStopSec=5s in the second part
SHORT_STOP_TIMEOUT = 5
POLL = 0.05  # seconds between two curls of a loop
ROUTES = """routes:
  - name: health
    match: {path: /healthz}
    response: {body: "ok\\n"}
  - name: page
    match: {path: /page}
    response: {body: "page\\n"}
"""
DROP_IN_DIR = "/etc/systemd/system/hellod.service.d"
DROP_IN = f"{DROP_IN_DIR}/e2e-stop-timeout.conf"

# One curl loop: "<unix time> <status>" per request (000: no response, e.g.
# refused), bounded by a count and a time; it ends early once the server has
# refused five times in a row (it is stopped).
CURL_LOOP = r"""
url=$1; end=$(( $(date +%s) + $2 )); i=0; down=0
while [ $i -lt 1000 ] && [ $(date +%s) -lt $end ] && [ $down -lt 5 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")
  echo "$(date +%s.%N) $code"
  if [ "$code" = 000 ]; then down=$((down + 1)); else down=0; fi
  i=$((i + 1)); sleep %POLL%
done
""".replace("%POLL%", str(POLL))


class CurlLoop:
    """CURL_LOOP inside the container, its lines collected as they come."""

    def __init__(self, container, url, seconds):
        self.proc = subprocess.Popen(
            ["nsenter", "-t", container.init_pid, "-a", "--", "sh", "-c", CURL_LOOP, "sh", url,
             str(seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=INSIDE_ENV)
        self.samples = []  # (unix time, status as text)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            when, _, code = line.strip().partition(" ")
            self.samples.append((float(when), code))

    def finish(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise StepFailed(f"a curl loop did not end within {timeout} s") from None
        self.reader.join(5)
        return self.samples


def timeline_text(samples, origin):
    """Runs of equal statuses: '200 x12 (-0.60..+0.02 s), 503 x40 (...)'."""
    runs = []
    for when, code in samples:
        if runs and runs[-1][0] == code:
            runs[-1][1] += 1
            runs[-1][3] = when
        else:
            runs.append([code, 1, when, when])
    return ", ".join(f"{code} x{count} ({first - origin:+.2f}..{last - origin:+.2f} s)"
                     for code, count, first, last in runs)


class DrainSteps:
    """Step 17: the drain before `systemctl stop`, and TimeoutStopSec=."""

    def drain_config(self, original, drain):
        """The shipped file with ROUTES and `health: {path: /healthz, drain: ...}`."""
        expect(original.count("routes: []\n") == 1 and original.count("\n  drain: 0s\n") == 1,
               "/etc/hellod.yaml has no 'routes: []' and 'health:' ... 'drain: 0s' to edit")
        return original.replace("routes: []\n", ROUTES).replace(
            "\n  drain: 0s\n", f"\n  path: /healthz\n  drain: {drain}s\n")

    def unit_state(self):
        out = self.c.inside("systemctl", "show", "hellod.service", "-p", "ActiveState",
                            "-p", "Result", "-p", "ExecMainStatus").stdout
        return dict(line.split("=", 1) for line in out.split())

    def timed_stop(self):
        """systemctl stop hellod; returns (wall-clock start, seconds it took)."""
        started, clock = time.time(), time.monotonic()
        self.c.inside("systemctl", "stop", "hellod", timeout=120)
        return started, time.monotonic() - clock

    def start_again(self, config):
        self.write_config(config)
        self.reset_start_limit()
        self.c.inside("systemctl", "start", "hellod")
        wait_for(lambda: self.curl() is not None, 10, "hellod to answer after the start")

    def step17_drain_on_stop(self):
        self.reset_start_limit()
        original = self.config()
        body = self.curl()
        try:
            first = self.drain_with_curl_loops(original)
            second = self.drain_beyond_timeout_stop_sec(original)
        finally:
            self.c.inside("rm", "-f", DROP_IN)
            self.c.inside("systemctl", "daemon-reload")
            if self.active("hellod.service") != "active" or self.config() != original:
                self.start_again(original)
        expect(self.curl() == body, f"after the step curl gives {self.curl()!r}, not {body!r}")
        return f"{first}; {second}; config restored, {body!r} served again"

    def drain_with_curl_loops(self, original):
        self.write_config(self.drain_config(original, DRAIN))
        self.c.inside("systemctl", "reload", "hellod")
        wait_for(lambda: self.curl("http://127.0.0.1:8080/healthz") == "ok\n", 10,
                 "/healthz after the reload")
        loops = {name: CurlLoop(self.c, f"http://127.0.0.1:8080/{name}", 30)
                 for name in ("healthz", "page")}
        wait_for(lambda: all(len(loop.samples) >= 5 for loop in loops.values()), 10,
                 "both curl loops to be answered")
        cursor = self.journal_cursor()
        stop_began, took = self.timed_stop()
        state = self.unit_state()
        health, page = (loops[name].finish(30) for name in ("healthz", "page"))
        journal = self.journal_since(cursor)

        first_503 = next((t for t, code in health if code == "503"), None)
        last_health_200 = max((t for t, code in health if code == "200" and
                               (first_503 is None or t < first_503)), default=None)
        page_200 = [t for t, code in page if code == "200"]
        last_page_200 = max(page_200, default=None)
        page_other = [(round(t - stop_began, 2), code) for t, code in page
                      if code != "200" and (last_page_200 is None or t < last_page_200)]
        after_503 = {code for t, code in health if first_503 is not None and t >= first_503}
        in_drain = sum(1 for t in page_200 if first_503 is not None and t >= first_503)
        text = (f"drain {DRAIN}s: systemctl stop took {took:.2f} s, unit {state}; "
                f"/healthz: {timeline_text(health, stop_began)}; "
                f"/page: {timeline_text(page, stop_began)} (times from the stop)")
        expect(first_503 is not None, f"/healthz never answered 503: {text}")
        expect(last_page_200 is not None, f"/page never answered 200: {text}")
        text += (f"; first /healthz 503 at {first_503 - stop_began:+.2f} s, last /page 200 at "
                 f"{last_page_200 - stop_began:+.2f} s, inactive at {took:+.2f} s; "
                 f"{in_drain} /page 200s after the first 503")
        expect(last_health_200 is not None and last_health_200 < first_503, text)
        # Health fails first: within one poll (and a curl) of the stop.
        expect(first_503 - stop_began < 1.0, f"the first 503 came late: {text}")
        expect(after_503 <= {"503", "000"}, f"/healthz answered 200 after its first 503: {text}")
        # The other route answered 200 throughout, until the drain ended.
        expect(not page_other, f"/page failed before its last 200: {page_other}; {text}")
        expect(last_page_200 - first_503 >= DRAIN - 0.5,
               f"/page stopped answering before the drain ended: {text}")
        expect(in_drain >= 10, f"too few /page answers during the drain: {text}")
        expect(state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"},
               f"the unit did not end inactive with success: {text}")
        expect(DRAIN - 0.2 <= took <= DRAIN + 3, f"the stop did not take about the drain: {text}")
        expect("draining: health check failing" in journal and "drain period over" in journal,
               f"the journal lacks the drain:\n{journal}")
        return text

    def drain_beyond_timeout_stop_sec(self, original):
        """TimeoutStopSec=5s (drop-in), drain 8s: EXTEND_TIMEOUT_USEC= at the
        first SIGTERM must keep systemd from killing hellod at 5 s."""
        self.c.inside("mkdir", "-p", DROP_IN_DIR)
        self.c.inside("sh", "-c", f"cat > {DROP_IN}",
                      input=f"[Service]\nTimeoutStopSec={SHORT_STOP_TIMEOUT}s\n")
        self.c.inside("systemctl", "daemon-reload")
        self.start_again(self.drain_config(original, LONG_DRAIN))
        timeout = self.c.inside("systemctl", "show", "-p", "TimeoutStopUSec", "--value",
                                "hellod.service").stdout.strip()
        expect(timeout == f"{SHORT_STOP_TIMEOUT}s", f"TimeoutStopUSec={timeout}")
        cursor = self.journal_cursor()
        health = CurlLoop(self.c, "http://127.0.0.1:8080/healthz", LONG_DRAIN + 20)
        wait_for(lambda: len(health.samples) >= 3, 10, "the /healthz loop to be answered")
        stop_began, took = self.timed_stop()
        state = self.unit_state()
        samples = health.finish(30)
        journal = self.journal_since(cursor)
        # What the service manager itself logged about the unit meanwhile.
        manager = self.c.inside("journalctl", "--no-pager", "-o", "cat", f"--after-cursor={cursor}",
                                "_PID=1", "UNIT=hellod.service", check=False).stdout
        text = (f"drain {LONG_DRAIN}s with TimeoutStopSec={timeout}: systemctl stop took "
                f"{took:.2f} s, unit {state}; /healthz: {timeline_text(samples, stop_began)}; "
                f"systemd said: {' | '.join(manager.strip().splitlines()) or 'nothing'}")
        expect(state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"},
               f"the unit did not end inactive with success: {text}")
        expect(LONG_DRAIN - 0.2 <= took <= LONG_DRAIN + 3, f"the stop did not take the drain: {text}")
        expect("timed out" not in manager and "Killing" not in manager,
               f"systemd timed the stop out: {text}")
        expect("drain period over" in journal, f"the drain did not run to its end:\n{journal}")
        return text
