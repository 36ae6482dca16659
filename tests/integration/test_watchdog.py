# SPDX-License-Identifier: MIT
"""The watchdog (sd_watchdog_enabled(3)): WATCHDOG=1 every half interval, and
none while a worker's event loop is stuck."""

import signal
import statistics
import sys
import time
import unittest

from hellod_harness import HellodTestCase, has_test_hooks
from notify_receiver import NotifyReceiver

INTERVAL_USEC = 1_000_000  # WatchdogSec=1s: pings expected every 0.5 s
HALF = INTERVAL_USEC / 2e6

# Sets WATCHDOG_PID to its own PID, then execs hellod in place, as systemd
# does for the main process.
PID_SHIM = ("import os, sys; os.environ['WATCHDOG_PID'] = str(os.getpid()); "
            "os.execv(sys.argv[1], sys.argv[1:])")


class WatchdogTest(HellodTestCase):
    def start_watched(self, config="", env=None, own_pid=True):
        notify = NotifyReceiver()
        self.addCleanup(notify.close)
        full_env = {**notify.env, "WATCHDOG_USEC": str(INTERVAL_USEC), **(env or {})}
        wrapper = [sys.executable, "-c", PID_SHIM] if own_pid else ()
        server = self.start(config, env=full_env, wrapper=wrapper)
        notify.wait_key("READY")
        return server, notify

    def pings(self, notify, since=0.0):
        return [m.received for m in notify.with_key("WATCHDOG") if m.received >= since]

    def test_pings_twice_per_interval(self):
        """With WATCHDOG_USEC and WATCHDOG_PID=hellod's PID, WATCHDOG=1 comes every half interval."""
        server, notify = self.start_watched("workers: 2\n")
        notify.wait_key("WATCHDOG", "1", count=7, timeout=10)
        times = self.pings(notify)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertAlmostEqual(statistics.median(gaps), HALF, delta=HALF * 0.3)
        # Never as late as a whole interval: that would get hellod killed.
        self.assertLess(max(gaps), INTERVAL_USEC / 1e6, gaps)
        self.assertIn(f"watchdog: pinging every {int(HALF * 1000)} ms", server.log())
        self.assertEqual({m.pid for m in notify.with_key("WATCHDOG")}, {server.proc.pid})
        self.assertEqual(server.stop(), 0)

    def test_watchdog_pid_of_another_process_disables_pings(self):
        """WATCHDOG_PID naming another process: the watchdog is not ours, no WATCHDOG=1."""
        server, notify = self.start_watched(env={"WATCHDOG_PID": "1"}, own_pid=False)
        # Three intervals without a ping; the READY already arrived.
        server.wait_log(r"serving")
        deadline = time.monotonic() + 3 * INTERVAL_USEC / 1e6
        while time.monotonic() < deadline:
            self.assertEqual(notify.with_key("WATCHDOG"), [])
            time.sleep(HALF / 4)
        self.assertNotIn("watchdog:", server.log())

    @unittest.skipUnless(has_test_hooks(), "needs a -DHELLOD_TEST_HOOKS=ON build")
    def test_no_pings_while_a_worker_loop_is_blocked(self):
        """SIGUSR1 (test builds) blocks worker 0 for 10 s: pings stop within an interval,
        and hellod logs why."""
        server, notify = self.start_watched("workers: 2\n")
        notify.wait_key("WATCHDOG", "1", count=3)
        server.signal(signal.SIGUSR1)
        server.wait_log(r"test hook: worker 0 blocked")
        blocked_at = time.monotonic()
        server.wait_log(r"withholding WATCHDOG=1", timeout=5)
        # One ping may still be in flight from the tick before the block took
        # effect; after one interval, none. Watch for four more intervals.
        time.sleep(max(0.0, blocked_at + 5 * INTERVAL_USEC / 1e6 - time.monotonic()))
        late = self.pings(notify, since=blocked_at + INTERVAL_USEC / 1e6)
        self.assertEqual(late, [], "WATCHDOG=1 sent while worker 0 was blocked")
        server.close()  # SIGKILL: a graceful stop would wait out the block


if __name__ == "__main__":
    unittest.main()
