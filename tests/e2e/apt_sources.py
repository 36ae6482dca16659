# SPDX-License-Identifier: MIT
"""The Debian mirror this machine's apt uses, for debootstrap.

The e2e test must work on a machine behind a local mirror and must not name
an archive itself, so it reads apt's own sources: the one-line format of
sources.list(5) (/etc/apt/sources.list, sources.list.d/*.list) and its deb822
format (sources.list.d/*.sources), in the order apt reads them. The first
enabled `deb` entry for the wanted suite with the `main` component wins.
"""

import glob
import os
import re
import subprocess
from dataclasses import dataclass, field

# URI schemes debootstrap can fetch from (cdrom:, mirror+file:, tor+http: it cannot).
DEBOOTSTRAP_SCHEMES = ("http", "https", "ftp", "file")


@dataclass
class Source:
    """One apt source entry, reduced to what selecting a mirror needs."""
    types: list
    uris: list
    suites: list
    components: list
    options: dict = field(default_factory=dict)  # lower-case deb822 names: signed-by, trusted, ...
    origin: str = ""  # file:line, for messages

    def enabled(self):
        return self.options.get("enabled", "yes").lower() != "no"


def _split_words(value):
    return value.replace(",", " ").split() if value else []


def parse_one_line(text, origin="sources.list"):
    """sources.list(5) one-line style: `deb [opt=val ...] URI SUITE [COMPONENT...]`."""
    sources = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^(\S+)\s+(?:\[([^\]]*)\]\s*)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not match:
            continue
        kind, options_text, uri, suite, components = match.groups()
        options = {}
        for option in (options_text or "").split():
            name, _, value = option.partition("=")
            # One-line names differ from deb822's for a few (arch= / Architectures:);
            # the ones used here (signed-by, trusted) are the same.
            options[name.lower()] = value
        sources.append(Source([kind], [uri], [suite], components.split(), options,
                              f"{origin}:{number}"))
    return sources


def parse_deb822(text, origin="x.sources"):
    """sources.list(5) deb822 style: paragraphs of `Field: value` with continuation lines."""
    sources = []
    paragraph, start, last = {}, None, None

    def flush():
        if paragraph:
            options = {k: v for k, v in paragraph.items()
                       if k not in ("types", "uris", "suites", "components")}
            sources.append(Source(_split_words(paragraph.get("types")),
                                  _split_words(paragraph.get("uris")),
                                  _split_words(paragraph.get("suites")),
                                  _split_words(paragraph.get("components")),
                                  options, f"{origin}:{start}"))

    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            flush()
            paragraph, start, last = {}, None, None
            continue
        if line[0] in " \t":
            if last is not None:  # continuation (e.g. an inline Signed-By key)
                paragraph[last] += "\n" + line.strip()
            continue
        name, _, value = line.partition(":")
        last = name.strip().lower()
        paragraph[last] = value.strip()
        if start is None:
            start = number
    flush()
    return sources


def _apt_dirs():
    """sources.list and sources.list.d as apt is configured (Dir::Etc::*)."""
    fallback = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
    try:
        out = subprocess.run(["apt-config", "shell", "LIST", "Dir::Etc::sourcelist/f",
                              "PARTS", "Dir::Etc::sourceparts/d"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return fallback
    found = dict(re.findall(r"^(LIST|PARTS)='([^']*)'$", out, re.MULTILINE))
    return found.get("LIST", fallback[0]), found.get("PARTS", fallback[1]).rstrip("/")


def machine_sources():
    """Every entry of the machine's apt sources, in the order apt reads them."""
    source_list, parts = _apt_dirs()
    sources = []
    if os.path.isfile(source_list):
        with open(source_list, encoding="utf-8") as f:
            sources += parse_one_line(f.read(), source_list)
    # apt reads sources.list.d in alphanumeric order; *.list and *.sources alike.
    for path in sorted(glob.glob(os.path.join(parts, "*.list")) +
                       glob.glob(os.path.join(parts, "*.sources")), key=os.path.basename):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        sources += parse_deb822(text, path) if path.endswith(".sources") \
            else parse_one_line(text, path)
    return sources


def host_codename():
    with open("/etc/os-release", encoding="utf-8") as f:
        match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", f.read(), re.MULTILINE)
    if not match:
        raise RuntimeError("no VERSION_CODENAME in /etc/os-release")
    return match.group(1)


@dataclass
class Mirror:
    uri: str
    suite: str
    origin: str
    debootstrap_options: list  # e.g. --keyring=FILE or --no-check-gpg


def find_mirror(sources, suite):
    """The first enabled `deb` source serving suite/main that debootstrap can use."""
    for source in sources:
        if not source.enabled() or "deb" not in source.types:
            continue
        if suite not in source.suites or "main" not in source.components:
            continue
        for uri in source.uris:
            if uri.split(":", 1)[0] not in DEBOOTSTRAP_SCHEMES:
                continue
            options = []
            if source.options.get("trusted", "").lower() == "yes":
                options.append("--no-check-gpg")
            else:
                # A keyring file (one path, binary keyring) the source is signed
                # with, e.g. a local mirror's own key; otherwise debootstrap's
                # default, the Debian archive keyring.
                signed_by = source.options.get("signed-by", "")
                if "\n" not in signed_by and signed_by.endswith(".gpg") \
                        and os.path.isfile(signed_by):
                    options.append(f"--keyring={signed_by}")
            return Mirror(uri, suite, source.origin, options)
    return None


def debootstrap_mirror(suite=None):
    """The machine's mirror for suite (default: the host's codename), or raises."""
    suite = suite or host_codename()
    sources = machine_sources()
    mirror = find_mirror(sources, suite)
    if mirror is None:
        seen = "; ".join(f"{s.origin}: {' '.join(s.types)} {' '.join(s.uris)} "
                         f"{' '.join(s.suites)}" for s in sources) or "none"
        raise RuntimeError(f"no enabled 'deb' source for {suite} main in the machine's apt "
                           f"sources (read: {seen})")
    return mirror


def apt_proxy_environment():
    """http_proxy/https_proxy for debootstrap's wget from apt's Acquire::*::Proxy, if set."""
    env = {}
    try:
        out = subprocess.run(["apt-config", "shell", "HTTP", "Acquire::http::Proxy",
                              "HTTPS", "Acquire::https::Proxy"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return env
    found = dict(re.findall(r"^(HTTP|HTTPS)='([^']*)'$", out, re.MULTILINE))
    for key, name in (("HTTP", "http_proxy"), ("HTTPS", "https_proxy")):
        value = found.get(key, "")
        if value and value.upper() != "DIRECT" and name not in os.environ:
            env[name] = value
    return env
