# SPDX-License-Identifier: MIT
"""A journald that stops taking entries must not stop hellod.

journald stalls now and then: behind a slow disk, while it rotates or
flushes its files, when it hangs. Its socket's queue fills, and a sender
that waits for room waits for as long as the stall lasts. hellod keeps
serving, reloading and stopping meanwhile: its own lines wait a moment and
are then dropped (and counted, once the journal takes entries again); its
access records are dropped by the queues (counted in
hellod_access_log_dropped_total); and a stop sends what the journal takes
before it ends, then gives up.

fake_journald.py stands in for journald; pause() stops it reading and fills
its queue.
"""

import re
import unittest

from fake_journald import JournaledTestCase, can_fake_journald
from hellod_harness import wait_for
from metrics_client import samples, scrape, value

CONFIG = """listen: ["127.0.0.1:0"]
workers: 2
log: {access: json, target: journal}
metrics: {listen: ["127.0.0.1:0"]}
response: {body: "BODY\\n"}
"""


@unittest.skipUnless(can_fake_journald(), "needs root and unshare -m for a stand-in journald")
class StalledJournalTest(JournaledTestCase):
    def start_serving(self):
        server, _notify = self.start_journaled(CONFIG)
        self.journald.wait_record(r"^serving 127\.0\.0\.1:\d+ with 2 workers$")
        metrics = self.journald.wait_record(r"^metrics: serving http://127\.0\.0\.1:\d+/")
        self.metrics = ("127.0.0.1", int(re.search(r":(\d+)/", metrics["MESSAGE"]).group(1)))
        return server

    def lines_dropped(self):
        return value(samples(scrape(self.metrics)), "hellod_log_lines_dropped_total")

    def reload_to(self, server, body):
        server.reload_until_served(CONFIG.replace("BODY", body), f"{body}\n".encode())

    def test_it_serves_and_reloads_while_the_journal_takes_nothing(self):
        server = self.start_serving()
        self.journald.pause()
        self.assertEqual(server.get_body(), b"BODY\n")  # its access record waits
        self.reload_to(server, "AGAIN")
        self.reload_to(server, "THIRD")

    def test_a_stop_ends_while_the_journal_takes_nothing(self):
        server = self.start_serving()
        self.journald.pause()
        self.assertEqual(server.get_body(), b"BODY\n")  # the logger thread now waits for it
        self.assertEqual(server.stop(), 0)  # fails after STOP_TIMEOUT

    def test_lines_it_dropped_are_counted_once_the_journal_takes_entries_again(self):
        server = self.start_serving()
        self.journald.pause()
        self.assertEqual(self.lines_dropped(), 0)
        self.reload_to(server, "UNSEEN")  # its lines wait a moment, then go
        dropped = self.lines_dropped()
        self.assertGreater(dropped, 0)
        self.journald.resume()
        self.reload_to(server, "SEEN")
        notice = self.journald.wait_record(
            r"^(\d+) log line\(s\) dropped because the journal was not taking them$")
        self.assertEqual(notice["PRIORITY"], "4")  # LOG_WARNING
        # The notice counts every line dropped before it, the metric every
        # line since the start.
        self.assertLessEqual(dropped, int(notice["MESSAGE"].split()[0]))
        self.assertLessEqual(int(notice["MESSAGE"].split()[0]), self.lines_dropped())
        self.journald.wait_record(r"^reloaded; ")
        self.assertEqual(len(self.journald.matching(r"^reloading ")), 1,
                         "UNSEEN's line was dropped")
        # The access log waited for the journal all along: its records flow too.
        server.get_body("/after-the-stall")
        record = wait_for(lambda: next((r for r in self.journald.records
                                        if r.get("HTTP_TARGET") == "/after-the-stall"), None),
                          10, what="the access record sent after the stall")
        self.assertEqual(record["HTTP_STATUS"], "200")
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
