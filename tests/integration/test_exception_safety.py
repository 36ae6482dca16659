# SPDX-License-Identifier: MIT
"""Whatever the request path throws, the worker goes on serving everyone
else with intact responses (issue 9). Needs a build with test hooks
(-DHELLOD_TEST_HOOKS=ON), where a request for /__hellod_test/throw throws."""

import unittest

from hellod_harness import HellodTestCase, has_test_hooks, read_response, recv_until_close

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
THROW = b"GET /__hellod_test/throw HTTP/1.1\r\nHost: t\r\n\r\n"


@unittest.skipUnless(has_test_hooks(), "hellod was built without -DHELLOD_TEST_HOOKS=ON")
class ExceptionSafetyTest(HellodTestCase):
    def test_a_throw_mid_batch_leaves_the_next_connection_intact(self):
        """Pipelined: 3 answered requests gathered for one write, then one that
        throws. That connection is closed without its batch; the next
        connection gets exactly its own response, not the thrown-away bytes."""
        server = self.start('response: {body: "intact\\n"}\n')
        for _ in range(3):
            with server.connect() as bad:
                bad.sendall(GET * 3 + THROW)
                self.assertEqual(recv_until_close(bad), b"")
            with server.connect() as good:
                good.sendall(GET)
                status, headers, body, rest = read_response(good)
                self.assertEqual((status, body, rest), (200, b"intact\n", b""))
                good.sendall(GET)
                self.assertEqual(read_response(good)[2:], (b"intact\n", b""))
        self.assertIn("connection failed: test hook: the request path threw", server.log())
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
