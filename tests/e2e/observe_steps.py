# SPDX-License-Identifier: MIT
"""The e2e steps for the access log's journal fields and the metrics listener (service mode).

One reload turns on `log.access: json`, two routes (/missing answers 404,
/page 200) and `metrics.listen: ["127.0.0.1:0"]`; curl inside the container
sends a known mix of requests, each from a port it reports. Then:
`journalctl -u hellod HTTP_STATUS=404 -o json` must return exactly the 404
records, with the fields hellod(8) documents (matched to each request by its
client port), and HTTP_STATUS=200 exactly the 200s; the metrics listener,
whose port hellod logs, must count the same requests by route and code, in
an exposition `promtool check metrics` accepts. The configuration is then
restored and the metrics port must close.
Step 19 sends a burst of requests with the access log on: every request
must be a record in the journal or counted in hellod_access_log_dropped_total
(hellod drops records when journald cannot keep up, and counts them), and a
reload right after it must still show hellod's own lines. journald's rate
limit would otherwise drop records past its burst uncounted, and those
lines with them.
Step 20 stops journald (SIGSTOP), sends a burst of requests with the access
log on and fills journald's queue: a reload must still apply and a stop
still end, and once journald reads again, hellod's next line must say how
many of its lines it dropped meanwhile, and hellod_log_lines_dropped_total
count them.
Mixed into run_e2e.Steps, whose helpers (curl, config, ...) it uses.
"""

import json
import re
import shutil
import time

from nspawn import StepFailed, expect, run, wait_for
from restart_steps import Load

# src/access_log.hpp kAccessMessageId: an interface (`journalctl MESSAGE_ID=`).
ACCESS_MESSAGE_ID = "af470a4e8d4d452ab39e54a48587d925"
USER_AGENT = "hellod-e2e-observe"
ROUTES = """routes:
  - name: missing
    match: {path: /missing}
    response: {status: 404, body: "not here\\n"}
  - name: page
    match: {path: /page}
    response: {body: "page\\n"}
"""
# (method, target, expected status): three 404s, four 200s, two methods.
REQUESTS = [
    ("GET", "/missing?n=1", 404), ("GET", "/page?n=1", 200), ("POST", "/missing?n=2", 404),
    ("GET", "/page?n=2", 200), ("GET", "/missing?n=3", 404), ("POST", "/page?n=3", 200),
    ("GET", "/page?n=4", 200),
]
ROUTE_OF = {404: "missing", 200: "page"}
# Each request on a connection of its own: "<status> <client port>" per line.
CURL_REQUESTS = r"""
ua=$1; shift
while [ $# -ge 2 ]; do
  if [ "$1" = POST ]; then data="--data e2e"; else data=""; fi
  curl -s -o /dev/null --max-time 5 -A "$ua" -X "$1" $data \
       -w '%{http_code} %{local_port}\n' "http://127.0.0.1:8080$2"
  shift 2
done
"""
# Well past journald's default burst (RateLimitBurst=10000 per 30 s, scaled
# with free disk space: 37,486 records got through in a container like the
# test's), and long enough that journald takes about twice that even though
# hellod drops what it cannot take: a couple of seconds of load.
BURST = 200000
# Far more access records than a socket's send buffer holds: hellod's logger
# thread then waits for journald.
STALL_BURST = 5000
# One entry per logger(1) process (blocking, as libsystemd sends) until one
# waits: journald's queue is then full.
FILL_JOURNAL = """i=0
while [ $i -lt 4096 ]; do
  echo MESSAGE=hellod-e2e-filler | timeout 2 logger --journald
  status=$?
  [ $status -eq 124 ] && exit 0
  [ $status -ne 0 ] && exit $status
  i=$((i + 1))
done
exit 1"""
STALLED_BODY = "reloaded while journald was stopped\n"
DROPPED_LINES = re.compile(r"^(\d+) log line\(s\) dropped because the journal was not taking them$",
                           re.MULTILINE)
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(exposition, name):
    """{frozenset of (label, value): value} of one metric in the text format."""
    found = {}
    for line in exposition.splitlines():
        match = SAMPLE.match(line)
        if match and match.group(1) == name:
            found[frozenset(LABEL.findall(match.group(2) or ""))] = float(match.group(3))
    return found


class ObserveSteps:
    """Step 18: journal fields of the access log; metrics under systemd."""

    def observe_config(self, original):
        expect(original.count("routes: []\n") == 1 and original.count("\n  access: false\n") == 1,
               "/etc/hellod.yaml has no 'routes: []' and 'access: false' to edit")
        expect("\nmetrics:" not in original, "/etc/hellod.yaml already has a metrics: section")
        return (original.replace("routes: []\n", ROUTES)
                .replace("\n  access: false\n", "\n  access: json\n") +
                'metrics:\n  listen: ["127.0.0.1:0"]\n')

    def reload_and_wait(self, what):
        """systemctl reload; the journal after it, once hellod says how it went."""
        cursor = self.journal_cursor()
        self.c.inside("systemctl", "reload", "hellod")

        def finished():
            journal = self.journal_since(cursor)
            return ("reloaded; " in journal or "reload failed" in journal) and journal

        journal = wait_for(finished, 10, f"hellod to finish the reload {what}")
        expect("reload failed" not in journal, f"the reload {what} failed:\n{journal}")
        return journal

    def access_journal(self, cursor, *matches, output="json"):
        """`journalctl -u hellod MATCH... -o OUTPUT` from cursor on.

        --cursor, not --after-cursor: journalctl 252 with a field match skips
        the first matching entry after the cursor (systemd#30288, fixed in
        255). The cursor's own entry is hellod's from before the access log
        was on, so no match selects it.
        """
        return self.c.inside("journalctl", "-u", "hellod", *matches, "-o", output, "--no-pager",
                             *([f"--cursor={cursor}"] if cursor else [])).stdout.splitlines()

    def access_records(self, cursor, status):
        return [json.loads(line) for line in self.access_journal(cursor, f"HTTP_STATUS={status}")]

    def send_requests(self):
        args = [part for method, target, _ in REQUESTS for part in (method, target)]
        out = self.c.inside("sh", "-c", CURL_REQUESTS, "sh", USER_AGENT, *args).stdout.split()
        sent = [(method, target, int(code), port)
                for (method, target, _), code, port in zip(REQUESTS, out[::2], out[1::2])]
        expect(len(sent) == len(REQUESTS) and
               all(code == want for (_, _, code, _), (_, _, want) in zip(sent, REQUESTS)),
               f"curl got other statuses than {[s for _, _, s in REQUESTS]}: {sent}")
        return sent

    def check_records(self, records, sent, status):
        """Exactly one record per request of this status, with the documented fields."""
        want = sorted((m, t, p) for m, t, code, p in sent if code == status)
        got = sorted((r.get("HTTP_METHOD"), r.get("HTTP_TARGET"), r.get("CLIENT_PORT"))
                     for r in records)
        expect(got == want, f"HTTP_STATUS={status} selected {got}, sent {want}")
        for record in records:
            fields = {key: record.get(key) for key in (
                "HTTP_STATUS", "HTTP_ROUTE", "CLIENT_ADDRESS", "MESSAGE_ID", "HTTP_USER_AGENT",
                "HTTP_VERSION", "_SYSTEMD_UNIT")}
            expect(fields == {"HTTP_STATUS": str(status), "HTTP_ROUTE": ROUTE_OF[status],
                              "CLIENT_ADDRESS": "127.0.0.1", "MESSAGE_ID": ACCESS_MESSAGE_ID,
                              "HTTP_USER_AGENT": USER_AGENT, "HTTP_VERSION": "HTTP/1.1",
                              "_SYSTEMD_UNIT": "hellod.service"},
                   f"an HTTP_STATUS={status} record has {fields}")
            line = json.loads(record["MESSAGE"])  # log.access: json
            expect(line["status"] == status and line["target"] == record["HTTP_TARGET"] and
                   line["route"] == ROUTE_OF[status],
                   f"MESSAGE does not match the fields: {record['MESSAGE']}")

    def scrape(self, port):
        result = self.c.inside("curl", "-s", "--max-time", "5", "-D", "/dev/stderr",
                               f"http://127.0.0.1:{port}/metrics", check=False)
        return result if result.returncode == 0 else None

    def promtool(self, exposition):
        """`promtool check metrics` on the host, the text piped out of the container."""
        if not shutil.which("promtool"):
            return "promtool not installed on the host (scripts/install-deps.sh test): not run"
        checked = run(["promtool", "check", "metrics"], input=exposition, check=False)
        expect(checked.returncode == 0, f"promtool check metrics exited {checked.returncode}:\n"
                                        f"{checked.stdout}{checked.stderr}")
        return "promtool check metrics: ok"

    def step18_observe(self):
        original = self.config()
        body = self.curl()
        cursor = self.journal_cursor()
        self.write_config(self.observe_config(original))
        try:
            port = self.metrics_port(self.reload_and_wait("with the access log and metrics on"))
            began = time.monotonic()
            sent = self.send_requests()
            sent_in = time.monotonic() - began
            counts = {status: sum(1 for *_, code, _ in sent if code == status)
                      for status in (404, 200)}

            def all_recorded():  # journald is asynchronous, and so is the access log's thread
                selected = {s: self.access_records(cursor, s) for s in counts}
                return all(len(selected[s]) >= counts[s] for s in counts) and selected

            records = wait_for(all_recorded, 10, f"{counts[404]} HTTP_STATUS=404 and "
                               f"{counts[200]} HTTP_STATUS=200 records")
            in_journal = time.monotonic() - began
            for status, selected in records.items():
                self.check_records(selected, sent, status)
            all_access = self.access_journal(cursor, f"MESSAGE_ID={ACCESS_MESSAGE_ID}",
                                             output="cat")
            expect(len(all_access) == len(sent),
                   f"MESSAGE_ID= selects {len(all_access)} records, {len(sent)} requests sent")

            scraped = self.scrape(port)
            expect(scraped is not None, f"no answer from the metrics listener on {port}")
            exposition = scraped.stdout
            expect("content-type: text/plain; version=0.0.4" in scraped.stderr.lower(),
                   f"metrics Content-Type is not the text format 0.0.4:\n{scraped.stderr}")
            requests = samples(exposition, "hellod_http_requests_total")
            by_route = {status: requests.get(frozenset({("route", ROUTE_OF[status]),
                                                        ("code", str(status))}))
                        for status in counts}
            promtool = self.promtool(exposition)
        finally:
            self.write_config(original)
            restored = self.reload_and_wait("back to the original configuration")
        closed = wait_for(lambda: self.scrape(port) is None and "closed", 10,
                          f"the metrics port {port} to close after the restore")
        shown = {status: "absent" if value is None else f"{value:g}"
                 for status, value in by_route.items()}
        text = (f"metrics on 127.0.0.1:{port} (port 0, read from the journal); {len(sent)} "
                f"requests in {sent_in:.2f} s; HTTP_STATUS=404 -> {len(records[404])} records, "
                f"HTTP_STATUS=200 -> {len(records[200])} (all in the journal "
                f"{in_journal:.2f} s after the first request), each matched to its request by "
                f"CLIENT_PORT with HTTP_METHOD/HTTP_TARGET/HTTP_ROUTE/CLIENT_ADDRESS=127.0.0.1/"
                f"MESSAGE_ID; MESSAGE_ID= selects {len(all_access)}; "
                f"hellod_http_requests_total{{route=\"missing\",code=\"404\"}} {shown[404]}, "
                f"{{route=\"page\",code=\"200\"}} {shown[200]}; {promtool}; restored: "
                f"metrics port {closed}")
        for status, value in by_route.items():
            expect(value == counts[status], f"{counts[status]} {status}s sent: {text}")
        expect("metrics: stopped listening on 127.0.0.1:0" in restored,
               f"the restore did not stop the metrics listener:\n{restored}")
        expect(self.curl() == body, f"after the step curl gives {self.curl()!r}, not {body!r}")
        return text

    def metrics_port(self, journal):
        served = re.search(r"metrics: serving http://127\.0\.0\.1:(\d+)/metrics", journal)
        expect(served, f"hellod did not say where it serves metrics:\n{journal}")
        return int(served.group(1))

    def dropped_records(self, port):
        scraped = self.scrape(port)
        expect(scraped is not None, f"no answer from the metrics listener on {port}")
        return sum(samples(scraped.stdout, "hellod_access_log_dropped_total").values())

    def step19_access_log_burst(self):
        original = self.config()
        cursor = self.journal_cursor()
        self.write_config(self.observe_config(original))
        try:
            port = self.metrics_port(self.reload_and_wait("with the access log and metrics on"))
            with Load(self.c, "burst", "--count", str(BURST), "--connections", "2",
                      "--duration", "60") as load:
                result = load.finish(timeout=90)
            expect(result["statuses"] == {"200": BURST} and not result["errors"],
                   f"the burst of {BURST} requests got {result}")
            seen = {}

            def accounted():  # journald is asynchronous, and so is the access log's thread
                seen["recorded"] = len(self.access_journal(
                    cursor, f"MESSAGE_ID={ACCESS_MESSAGE_ID}", output="cat"))
                seen["dropped"] = self.dropped_records(port)
                return seen["recorded"] + seen["dropped"] == BURST

            try:
                wait_for(accounted, 60, "the records to be accounted for", interval=1)
            except StepFailed as error:
                raise StepFailed(f"{error}: of {BURST} requests, {seen['recorded']} records in "
                                 f"the journal and {seen['dropped']:g} counted as dropped") from None
            after = self.reload_and_wait("right after the burst")
        finally:
            self.write_config(original)
            self.reload_and_wait("back to the original configuration")
        reloaded = re.search(r"^reloaded; .*$", after, re.MULTILINE)
        return (f"{BURST} requests in {result['seconds']:.1f} s: {seen['recorded']} records in "
                f"the journal + {seen['dropped']:g} counted in hellod_access_log_dropped_total; "
                f"the reload right after it logged {reloaded.group(0) if reloaded else after!r}")

    def journald_stopped(self):
        """A context in which journald is stopped (SIGSTOP) and its queue full."""
        steps = self

        class Stopped:
            def __enter__(self):
                self.pid = steps.c.inside("systemctl", "show", "-p", "MainPID", "--value",
                                          "systemd-journald").stdout.strip()
                expect(self.pid not in ("", "0"), "systemd-journald is not running")
                steps.c.inside("sh", "-c", f"kill -STOP {self.pid}")
                with Load(steps.c, "burst", "--count", str(STALL_BURST), "--connections", "2",
                          "--duration", "30") as load:
                    result = load.finish(timeout=60)
                expect(result["statuses"] == {"200": STALL_BURST} and not result["errors"],
                       f"the burst of {STALL_BURST} requests got {result}")
                # A socket's send buffer holds fewer entries than journald's
                # queue (net.unix.max_dgram_qlen): other clients fill the
                # rest, as on a busy host.
                filled = steps.c.inside("sh", "-c", FILL_JOURNAL, check=False)
                expect(filled.returncode == 0, f"journald's queue did not fill: {filled}")
                return self

            def __exit__(self, *exc):
                steps.c.inside("sh", "-c", f"kill -CONT {self.pid}")

        return Stopped()

    def step20_stalled_journal(self):
        original = self.config()
        body_line = f"body: {json.dumps(self.curl())}"
        expect(body_line in original, f"/etc/hellod.yaml has no {body_line!r}")
        observed = self.observe_config(original)
        self.write_config(observed)
        try:
            port = self.metrics_port(self.reload_and_wait("with the access log on"))
            # The notice goes before hellod's first line once journald reads
            # again, which may come before the reload below.
            cursor = self.journal_cursor()
            with self.journald_stopped():
                self.write_config(observed.replace(body_line,
                                                   f"body: {json.dumps(STALLED_BODY)}"))
                self.c.inside("systemctl", "reload", "hellod", timeout=30)
                wait_for(lambda: self.curl() == STALLED_BODY, 10,
                         "the reload to be served while journald is stopped")
            self.reload_and_wait("once journald reads again")
            after = self.journal_since(cursor)
            dropped = DROPPED_LINES.search(after)
            expect(dropped, f"hellod did not say how many lines it dropped:\n{after[-3000:]}")
            scraped = self.scrape(port)
            expect(scraped is not None, f"no answer from the metrics listener on {port}")
            counted = sum(samples(scraped.stdout, "hellod_log_lines_dropped_total").values())
            expect(counted >= int(dropped.group(1)),
                   f"hellod_log_lines_dropped_total is {counted:g}, under {dropped.group(0)!r}")
            with self.journald_stopped():
                started = time.monotonic()
                self.c.inside("systemctl", "stop", "hellod", timeout=60)
                stop_seconds = time.monotonic() - started
                state = self.active("hellod.service")
            expect(state == "inactive", f"hellod is {state} after a stop with journald stopped")
            self.reset_start_limit()
            self.c.inside("systemctl", "start", "hellod")
        finally:
            self.write_config(original)
            self.c.inside("systemctl", "restart", "hellod")
        expect(self.curl() is not None, "hellod does not serve after the step")
        return (f"journald stopped, {STALL_BURST} requests: the reload applied, and once journald "
                f"read again hellod logged {dropped.group(0)!r} (hellod_log_lines_dropped_total "
                f"{counted:g}); a stop with journald stopped "
                f"took {stop_seconds:.2f} s")
