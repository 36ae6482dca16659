# SPDX-License-Identifier: MIT
"""Scraping hellod's metrics listener the way Prometheus does, and reading
the exposition with real parsers: prometheus_client's text parser
(python3-prometheus-client) and `promtool check metrics` (prometheus)."""

import http.client
import re
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_address(server, count=1):
    """(host, port) of the metrics listener, from hellod's log line
    "metrics: serving http://HOST:PORT/PATH" (the count-th one)."""
    match = server.wait_log(r"metrics: serving http://(\d+\.\d+\.\d+\.\d+):(\d+)/", count=count)
    return match.group(1), int(match.group(2))


def get(address, path="/metrics", method="GET", headers=None, timeout=10):
    """One request on a new connection: (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def scrape(address, path="/metrics"):
    """The exposition text; fails unless it is a 200 of the 0.0.4 format."""
    status, headers, body = get(address, path)
    if status != 200 or headers.get("Content-Type") != EXPOSITION_TYPE:
        raise AssertionError(f"scrape: {status} {headers}: {body[:500]!r}")
    return body.decode()


def samples(text):
    """{(sample name, frozenset of labels): value} via prometheus_client's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(parsed, name, **labels):
    """One sample's value; 0 when the series is absent (a request series
    outside what the configuration answers appears once it counts)."""
    return parsed.get((name, frozenset(labels.items())), 0.0)


def promtool_check(text):
    """`promtool check metrics` on the exposition: (exit code, its output)."""
    result = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"],
                            input=text.encode(), capture_output=True, timeout=60)
    return result.returncode, (result.stdout + result.stderr).decode()


def family_names(text):
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))
