# SPDX-License-Identifier: MIT
"""hellod configuration variants (bench/variants.yaml): what each costs.

A variant is a YAML snippet laid over hellod's baseline configuration, plus
optional generated exact-path routes and an nginx counterpart with the same
number of `location =` blocks. See variants.yaml for the file's keys.
"""

import json
import urllib.error
import urllib.request

import yaml

from servers import BODY, CONTENT_TYPE, Hellod, Nginx, exact_paths

NO_ROUTE_BODY = "no route\n"
KEYS = {"name", "label", "hellod", "exact_routes", "nginx", "targets"}
TARGET_KEYS = {"keepalive.rps_per_cpu", "pipelined.rps_per_cpu", "instructions_per_request"}


class Variant:
    def __init__(self, entry):
        unknown = set(entry) - KEYS
        if unknown or "name" not in entry:
            raise ValueError(f"variant {entry.get('name')!r}: unknown keys {sorted(unknown)} "
                             f"(known: {sorted(KEYS)}), name required")
        self.name = str(entry["name"])
        if ":" in self.name or self.name == "baseline":
            raise ValueError(f"variant name {self.name!r}: no ':' and not 'baseline'")
        self.label = str(entry.get("label", self.name))
        self.exact_routes = int(entry.get("exact_routes", 0))
        self.with_nginx = bool(entry.get("nginx", False))
        if self.with_nginx and not self.exact_routes:
            raise ValueError(f"variant {self.name!r}: nginx: true needs exact_routes")
        self.targets = dict(entry.get("targets") or {})
        if set(self.targets) - TARGET_KEYS:
            raise ValueError(f"variant {self.name!r}: targets are {sorted(TARGET_KEYS)}")
        snippet = entry.get("hellod") or ""
        if not isinstance(snippet, str):  # a map written inline instead of a block
            snippet = yaml.safe_dump(snippet)
        self.snippet = snippet + routes_snippet(self.exact_routes)
        parsed = yaml.safe_load(self.snippet.replace("@FREE_PORT@", "0")) or {}
        self.access_log = (parsed.get("log") or {}).get("access") not in (None, False)
        self.unsupported = None  # hellod's message when this build refuses the configuration

    def throughput_targets(self):
        """The targets on requests per CPU-second (not on instructions)."""
        return {key: bound for key, bound in self.targets.items() if key.endswith(".rps_per_cpu")}

    def hellod(self, binary, cpus=None):
        return Hellod(binary, 1, cpus=cpus, variant=self.name, snippet=self.snippet)

    def nginx(self, cpus=None, master_process=True):
        return Nginx(1, cpus=cpus, variant=self.name, exact_locations=self.exact_routes,
                     master_process=master_process)


def routes_snippet(count):
    """`routes:` with count exact paths, each answering the baseline's response.

    The default response becomes a 404, as behind a real route table: a
    build that accepts `routes:` but does not serve them yet answers GET /p1
    with it, and the benchmark notices instead of measuring nothing.
    """
    if count <= 0:
        return ""
    lines = [f"response: {{status: 404, content_type: \"{CONTENT_TYPE}\", "
             f"body: {json.dumps(NO_ROUTE_BODY)}}}", "routes:"]
    for path in exact_paths(count):
        lines.append(f"  - name: r{path[2:]}")
        lines.append(f"    match: {{path: {path}}}")
        lines.append(f"    response: {{status: 200, content_type: \"{CONTENT_TYPE}\", "
                     f"body: {json.dumps(BODY)}}}")
    return "\n" + "\n".join(lines) + "\n"


def load(path):
    """The variants listed in path ("none" or "" for none)."""
    if not path or path == "none":
        return []
    with open(path) as f:
        entries = yaml.safe_load(f) or []
    variants = [Variant(entry) for entry in entries]
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate variant names")
    return variants


def metrics_url(server):
    """The scrape address of a hellod whose configuration turns metrics on, or None."""
    with open(server.config_path) as f:
        metrics = (yaml.safe_load(f) or {}).get("metrics")
    if not isinstance(metrics, dict) or not metrics.get("listen"):
        return None
    listen = metrics["listen"]
    address = listen[0] if isinstance(listen, list) else listen
    return f"http://{address}{metrics.get('path', '/metrics')}"


def get(url):
    """(HTTP status or error text, body) of one GET, bounded in time."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return str(error), b""
