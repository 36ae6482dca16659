# SPDX-License-Identifier: MIT
"""apt_sources: the e2e test's mirror comes from apt's sources in either format."""

import os
import tempfile
import unittest

import apt_sources

# Example addresses only (.example is reserved, RFC 2606): the repository names no archive.
ONE_LINE = """\
# a comment
deb-src http://mirror.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/local.gpg] http://mirror.example/debian bookworm-updates main
deb cdrom:[Debian 12]/ bookworm main
deb [ trusted=yes ] file:/srv/mirror bookworm contrib main  # local
deb http://second.example/debian bookworm main
"""

DEB822 = """\
Types: deb
# http://old.example/debian
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 xyz
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


class ParseTest(unittest.TestCase):
    def test_one_line_options_comments_and_order(self):
        sources = apt_sources.parse_one_line(ONE_LINE, "sources.list")
        self.assertEqual([s.origin for s in sources],
                         ["sources.list:2", "sources.list:3", "sources.list:4",
                          "sources.list:5", "sources.list:6"])
        self.assertEqual(sources[1].options, {"arch": "amd64",
                                              "signed-by": "/usr/share/keyrings/local.gpg"})
        self.assertEqual(sources[3].uris, ["file:/srv/mirror"])
        self.assertEqual(sources[3].components, ["contrib", "main"])
        self.assertEqual(sources[3].options, {"trusted": "yes"})

    def test_one_line_pick(self):
        # deb-src, another suite and cdrom: are skipped; trusted=yes means no signature check.
        mirror = apt_sources.find_mirror(apt_sources.parse_one_line(ONE_LINE), "bookworm")
        self.assertEqual((mirror.uri, mirror.debootstrap_options),
                         ("file:/srv/mirror", ["--no-check-gpg"]))

    def test_deb822_paragraphs_continuations_and_enabled(self):
        sources = apt_sources.parse_deb822(DEB822, "debian.sources")
        self.assertEqual(len(sources), 3)
        self.assertFalse(sources[0].enabled())
        self.assertEqual(sources[1].types, ["deb", "deb-src"])
        self.assertEqual(sources[1].suites, ["bookworm", "bookworm-updates"])
        self.assertIn("END PGP PUBLIC KEY BLOCK", sources[1].options["signed-by"])
        mirror = apt_sources.find_mirror(sources, "bookworm")
        # An inline key is no keyring file: debootstrap keeps its default keyring.
        self.assertEqual((mirror.uri, mirror.origin, mirror.debootstrap_options),
                         ("http://mirror.example/debian", "debian.sources:8", []))

    def test_no_match(self):
        self.assertIsNone(apt_sources.find_mirror(apt_sources.parse_deb822(DEB822), "trixie"))

    def test_keyring_file_is_passed_on(self):
        with tempfile.NamedTemporaryFile(suffix=".gpg") as keyring:
            text = f"deb [signed-by={keyring.name}] http://local.example/debian bookworm main\n"
            mirror = apt_sources.find_mirror(apt_sources.parse_one_line(text), "bookworm")
            self.assertEqual(mirror.debootstrap_options, [f"--keyring={keyring.name}"])

    def test_this_machine(self):
        """The host's own apt sources name a mirror for its own release."""
        if not os.path.exists("/etc/apt"):
            self.skipTest("no apt on this machine")
        mirror = apt_sources.debootstrap_mirror()
        self.assertRegex(mirror.uri, r"^(https?|ftp|file):")


if __name__ == "__main__":
    unittest.main()
