# SPDX-License-Identifier: MIT
"""Turns bench.py's results into the table, latest.json and latest.svg."""

import html
import json

# (key, label, unit, direction, target): direction "higher"/"lower" says which
# way is better for hellod; target is (kind, value) checked by check_target.
ROWS = [
    ("keepalive.rps", "keep-alive req/s (wrk -c100)", "req/s", "higher", ("ratio>=", 1.0)),
    ("keepalive.rps_per_cpu", "keep-alive req per server CPU-s", "req/cpu-s", "higher",
     ("ratio>=", 1.5)),
    ("pipelined.rps", "pipelined x16 req/s", "req/s", "higher", ("ratio>=", 1.0)),
    ("pipelined.rps_per_cpu", "pipelined x16 req per server CPU-s", "req/cpu-s", "higher",
     ("ratio>=", 3.0)),
    ("close.rps", "connection-per-request req/s", "req/s", "higher", ("ratio>=", 1.0)),
    ("close.rps_per_cpu", "connection-per-request req per CPU-s", "req/cpu-s", "higher",
     ("ratio>=", 1.2)),
    ("keepalive.p50_ms", "keep-alive p50 latency", "ms", "lower", None),
    ("keepalive.p99_ms", "keep-alive p99 latency", "ms", "lower", ("ratio<=", 1.0)),
    ("memory.kib_per_connection", "RSS growth per idle connection", "KiB", "lower",
     ("hellod<=", 0.5)),
    ("callgrind.instructions_per_request", "user instructions per keep-alive req", "Ir", "lower",
     ("hellod<=", 2500)),
    ("syscalls.per_keepalive_request", "syscalls per keep-alive request", "calls", "lower",
     ("hellod<=", 2)),
    ("syscalls.per_pipelined_batch", "syscalls per 16-deep pipelined batch", "calls", "lower",
     ("hellod<=", 3)),
    ("alloc.keepalive_allocs_per_request", "heap allocations per keep-alive req", "allocs",
     "lower", ("hellod<=", 0)),
    ("alloc.pipelined_allocs_per_request", "heap allocations per pipelined req", "allocs",
     "lower", ("hellod<=", 0)),
]


def lookup(summary, key, server):
    section, field = key.split(".")
    return summary.get(section, {}).get(server, {}).get(field)


def check_target(target, hellod, nginx):
    if target is None or hellod is None:
        return ""
    kind, value = target
    if kind == "hellod<=":
        return "ok" if hellod <= value else "MISS"
    if nginx in (None, 0):
        return ""
    ratio = hellod / nginx
    if kind == "ratio>=":
        return "ok" if ratio >= value else "MISS"
    return "ok" if ratio <= value else "MISS"


def target_text(target):
    if target is None:
        return ""
    kind, value = target
    return {"ratio>=": f">= {value:g}x nginx", "ratio<=": f"<= {value:g}x nginx",
            "hellod<=": f"<= {value:g}"}[kind]


def fmt(value):
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value else "0"


def table_rows(summary):
    """The rows of the printed table: label, hellod, nginx, ratio, target, status."""
    rows = []
    for key, label, unit, _direction, target in ROWS:
        hellod, nginx = lookup(summary, key, "hellod"), lookup(summary, key, "nginx")
        if hellod is None and nginx is None:
            continue
        ratio = hellod / nginx if hellod is not None and nginx else None
        rows.append([f"{label} [{unit}]", fmt(hellod), fmt(nginx),
                     f"{ratio:.2f}" if ratio is not None else "-", target_text(target),
                     check_target(target, hellod, nginx)])
    for workers, entry in summary.get("scaling", {}).items():
        if workers == "1":
            continue  # the rows above
        for scenario in ("keepalive", "pipelined"):
            hellod = entry.get("hellod", {}).get(f"{scenario}.rps")
            nginx = entry.get("nginx", {}).get(f"{scenario}.rps")
            if hellod is None:
                continue
            ratio = hellod / nginx if nginx else None
            rows.append([f"{scenario} req/s, workers={workers}", fmt(hellod), fmt(nginx),
                         f"{ratio:.2f}" if ratio else "-", "", ""])
    return rows


def format_table(summary):
    header = ["metric (1 worker unless noted; medians)", "hellod", "nginx", "ratio", "target",
              ""]
    rows = [header] + table_rows(summary)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 4)]
        cells += [row[4].ljust(widths[4]), row[5]]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def write_json(path, document):
    with open(path, "w") as f:
        json.dump(document, f, indent=2, sort_keys=True)
        f.write("\n")


# ---- SVG -------------------------------------------------------------------

COLORS = {"hellod": "#2b6cb0", "nginx": "#9c9c9c"}


def _bar_panel(x0, y0, width, height, title, groups, unit, per_group=False):
    """One grouped bar chart: groups is [(label, {server: value})].

    per_group scales each group to its own largest value (for groups in
    different units).
    """
    parts = [f'<text x="{x0}" y="{y0 - 24}" font-size="14" font-weight="bold">'
             f'{html.escape(title)}</text>',
             f'<text x="{x0}" y="{y0 - 8}" font-size="11" fill="#555">'
             f'{html.escape(unit)}</text>']
    headroom = 1.12  # room for the value labels above the tallest bar
    peak = headroom * max([v for _, values in groups for v in values.values() if v] + [1])
    group_width = width / max(len(groups), 1)
    bar_width = group_width * 0.35
    parts.append(f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" '
                 'stroke="#333"/>')
    for index, (label, values) in enumerate(groups):
        gx = x0 + index * group_width + group_width * 0.15
        if per_group:
            peak = headroom * max([v for v in values.values() if v] + [1])
        for offset, server in enumerate(("hellod", "nginx")):
            value = values.get(server)
            if not value:
                continue
            bar_height = height * value / peak
            bx = gx + offset * bar_width
            parts.append(f'<rect x="{bx:.1f}" y="{y0 + height - bar_height:.1f}" '
                         f'width="{bar_width - 2:.1f}" height="{bar_height:.1f}" '
                         f'fill="{COLORS[server]}"/>')
            parts.append(f'<text x="{bx + bar_width / 2 - 1:.1f}" '
                         f'y="{y0 + height - bar_height - 3:.1f}" font-size="10" '
                         f'text-anchor="middle">{html.escape(_short(value))}</text>')
        ratio = ""
        if values.get("hellod") and values.get("nginx"):
            ratio = f" ({values['hellod'] / values['nginx']:.2f}x)"
        parts.append(f'<text x="{gx + bar_width:.1f}" y="{y0 + height + 15}" font-size="11" '
                     f'text-anchor="middle">{html.escape(label + ratio)}</text>')
    return parts


def _short(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.3g}"


def write_svg(path, summary, caption):
    scenarios = [("keepalive", "keep-alive"), ("pipelined", "pipelined x16"),
                 ("close", "conn/request")]
    per_cpu = [(label, {s: lookup(summary, f"{key}.rps_per_cpu", s) for s in COLORS})
               for key, label in scenarios]
    raw = [(label, {s: lookup(summary, f"{key}.rps", s) for s in COLORS})
           for key, label in scenarios]
    scaling = [(f"workers={w}", {s: entry.get(s, {}).get("keepalive.rps") for s in COLORS})
               for w, entry in summary.get("scaling", {}).items()]
    costs = [(label, {s: lookup(summary, key, s) for s in COLORS}) for key, label in
             [("callgrind.instructions_per_request", "Ir/request"),
              ("memory.bytes_per_connection", "bytes/idle conn")]]
    width, height = 960, 640
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" viewBox="0 0 {width} {height}">',
             '<rect width="100%" height="100%" fill="white"/>']
    parts += _bar_panel(50, 60, 400, 200, "Requests per server CPU-second (1 worker)",
                        per_cpu, "higher is better")
    parts += _bar_panel(520, 60, 400, 200, "Raw requests/s (1 worker)", raw, "higher is better")
    parts += _bar_panel(50, 360, 400, 200, "Keep-alive requests/s by workers", scaling,
                        "higher is better")
    parts += _bar_panel(520, 360, 400, 200, "Cost per request / per idle connection", costs,
                        "lower is better", per_group=True)
    for offset, server in enumerate(COLORS):
        parts.append(f'<rect x="{50 + offset * 110}" y="{height - 40}" width="12" height="12" '
                     f'fill="{COLORS[server]}"/><text x="{66 + offset * 110}" '
                     f'y="{height - 30}" font-size="12">{server}</text>')
    parts.append(f'<text x="{width - 20}" y="{height - 30}" font-size="11" text-anchor="end">'
                 f'{html.escape(caption)}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
