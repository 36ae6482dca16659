# SPDX-License-Identifier: MIT
"""The first thing a user does: start hellod and ask it something."""

import subprocess

from hellod_harness import HellodTestCase


class SmokeTest(HellodTestCase):
    def test_curl_gets_the_default_body_on_one_reused_connection(self):
        server = self.start()
        result = subprocess.run(["curl", "-sv", server.url, server.url + "again"],
                                capture_output=True, text=True, timeout=10, check=True)
        self.assertEqual(result.stdout, "Hello, World!\n" * 2)
        self.assertIn("Re-using existing connection", result.stderr)
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
