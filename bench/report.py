# SPDX-License-Identifier: MIT
"""Turns bench.py's results into the tables, latest.json and latest.svg."""

import html
import json

SERVERS = ("hellod", "nginx", "h2o")
PEERS = ("nginx", "h2o")

# (key, label, unit, targets): each target is (comparison, value, peer), peer
# None for a bound on hellod's own figure; the issue that set it is noted.
ROWS = [
    ("keepalive.rps", "keep-alive req/s (wrk -c100)", "req/s", [(">=", 1.0, "nginx")]),  # 5
    ("keepalive.rps_per_cpu", "keep-alive req per server CPU-s", "req/cpu-s",
     [(">=", 1.15, "nginx")]),  # 13
    ("pipelined.rps", "pipelined x16 req/s", "req/s", [(">=", 1.0, "nginx")]),  # 5
    ("pipelined.rps_per_cpu", "pipelined x16 req per server CPU-s", "req/cpu-s",
     [(">=", 3.0, "nginx")]),  # 5
    ("close.rps", "connection-per-request req/s", "req/s",
     [(">=", 1.0, "nginx"), (">=", 1.0, "h2o")]),  # 13
    ("close.rps_per_cpu", "connection-per-request req per CPU-s", "req/cpu-s",
     [(">=", 1.15, "nginx"), (">=", 1.1, "h2o")]),  # 13
    ("keepalive.user_us_per_request", "keep-alive server user CPU per req", "µs", []),
    ("keepalive.system_us_per_request", "keep-alive server system CPU per req", "µs", []),
    ("close.user_us_per_request", "connection-per-request server user CPU per req", "µs", []),
    ("close.system_us_per_request", "connection-per-request server system CPU per req", "µs",
     []),
    ("keepalive.p50_ms", "keep-alive p50 latency", "ms", []),
    ("keepalive.p99_ms", "keep-alive p99 latency", "ms", [("<=", 1.0, "nginx")]),  # 5
    ("memory.kib_per_connection", "RSS growth per idle connection", "KiB",
     [("<=", 0.5, None)]),  # 5
    ("callgrind.instructions_per_request", "user instructions per keep-alive req", "Ir",
     [("<=", 2500, None)]),  # 5
    ("syscalls.per_keepalive_request", "syscalls per keep-alive request", "calls",
     [("<=", 2, None)]),  # 5
    ("syscalls.per_pipelined_batch", "syscalls per 16-deep pipelined batch", "calls",
     [("<=", 3, None)]),  # 5
    ("syscalls.per_connection", "syscalls per one-shot connection", "calls",
     [("<=", 4, None)]),  # 13
    ("syscalls.segments_per_connection", "TCP segments per one-shot connection, both ways",
     "segments", []),
    ("alloc.keepalive_allocs_per_request", "heap allocations per keep-alive req", "allocs",
     [("<=", 0, None)]),  # 5
    ("alloc.pipelined_allocs_per_request", "heap allocations per pipelined req", "allocs",
     [("<=", 0, None)]),  # 5
    ("alloc.close_allocs_per_connection", "heap allocations per one-shot connection", "allocs",
     [("<=", 0, None)]),  # 13
]


def lookup(summary, key, server):
    section, field = key.split(".", 1)
    return (summary.get(section, {}).get(server) or {}).get(field)


def compare(comparison, left, right):
    return left >= right if comparison == ">=" else left <= right


def check_targets(targets, values):
    """"ok" when every target is met, "MISS" when one is not, "" when unknown."""
    if not targets or values.get("hellod") is None:
        return ""
    verdicts = []
    for comparison, bound, peer in targets:
        if peer is None:
            verdicts.append(compare(comparison, values["hellod"], bound))
        elif values.get(peer):
            verdicts.append(compare(comparison, values["hellod"] / values[peer], bound))
    if not verdicts:
        return ""
    return "ok" if all(verdicts) else "MISS"


def target_text(targets):
    return ", ".join(f"{comparison} {bound:g}x {peer}" if peer else f"{comparison} {bound:g}"
                     for comparison, bound, peer in targets)


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value else "0"


def ratio_text(hellod, peer):
    return f"{hellod / peer:.2f}" if hellod is not None and peer else "-"


def table_rows(summary):
    """Label, hellod, nginx, h2o, hellod/nginx, hellod/h2o, target, status."""
    rows = []
    for key, label, unit, targets in ROWS:
        values = {server: lookup(summary, key, server) for server in SERVERS}
        if all(value is None for value in values.values()):
            continue
        rows.append([f"{label} [{unit}]"] + [fmt(values[s]) for s in SERVERS]
                    + [ratio_text(values["hellod"], values[p]) for p in PEERS]
                    + [target_text(targets), check_targets(targets, values)])
    rows += side_by_side_rows(summary)
    rows += floor_rows(summary)
    for workers, entry in summary.get("scaling", {}).items():
        if workers == "1":
            continue  # the rows above
        for scenario in ("keepalive", "pipelined"):
            values = {s: (entry.get(s) or {}).get(f"{scenario}.rps") for s in SERVERS}
            if values["hellod"] is None:
                continue
            rows.append([f"{scenario} req/s, workers={workers}"]
                        + [fmt(values[s]) for s in SERVERS]
                        + [ratio_text(values["hellod"], values[p]) for p in PEERS] + ["", ""])
    return rows


def side_by_side_rows(summary):
    """hellod's req per CPU-s over each peer's, each pair running at once
    (bench.py run_peer_pairs): only the ratios, against the same targets."""
    rows = []
    for scenario, ratios in summary.get("side_by_side", {}).items():
        key = f"{scenario}.rps_per_cpu"
        label, targets = next((label, targets) for k, label, _, targets in ROWS if k == key)
        verdicts = [compare(comparison, ratios[f"vs_{peer}"], bound)
                    for comparison, bound, peer in targets if ratios.get(f"vs_{peer}")]
        rows.append([f"{label}, side by side [ratio]", "", "", ""]
                    + [f"{ratios[f'vs_{p}']:.2f}" if ratios.get(f"vs_{p}") else "-"
                       for p in PEERS]
                    + [target_text(targets), ("ok" if all(verdicts) else "MISS") if verdicts
                       else ""])
    return rows


def floor_rows(summary):
    """The floor (bench.py run_floor_pairs), keep-alive side by side: its req
    per CPU-s over nginx's, and hellod's over the floor's. No target: they
    show how far past nginx the kernel's loopback work leaves room for."""
    floor = summary.get("floor", {})
    rows = []
    if floor.get("floor_vs_nginx"):
        rows.append(["keep-alive req per server CPU-s, side by side: the floor (no HTTP work) "
                     "[ratio]", "", "", "", f"{floor['floor_vs_nginx']:.2f}", "", "", ""])
    if floor.get("hellod_vs_floor"):
        rows.append(["keep-alive req per server CPU-s, side by side: hellod vs the floor "
                     "[ratio]", f"{floor['hellod_vs_floor']:.3f}", "", "", "", "", "", ""])
    return rows


def layout(header, rows, left_columns=1, trailing=2):
    """Columns padded: text columns left-aligned, figures right-aligned."""
    rows = [header] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            text_column = i < left_columns or i >= len(header) - trailing
            cells.append(cell.ljust(widths[i]) if text_column else cell.rjust(widths[i]))
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def format_table(summary):
    header = ["metric (1 worker unless noted; medians)", "hellod", "nginx", "h2o",
              "vs nginx", "vs h2o", "target", ""]
    return layout(header, table_rows(summary))


# ---- CPU per keep-alive request, by system call --------------------------------

def kernel_rows(summary, limit=12):
    """Place, µs per request for each server, hellod minus nginx: the places
    that cost most (any server) first, then the sampled total."""
    kernel = summary.get("kernel", {})
    places = {place for entry in kernel.values() for place in entry["us_per_request_by_place"]}
    if not places:
        return []

    def cost(server, place):
        return kernel.get(server, {}).get("us_per_request_by_place", {}).get(place)

    ranked = sorted(places, key=lambda p: -max(cost(s, p) or 0 for s in SERVERS))[:limit]
    rows = []
    for place in ranked + ["total sampled"]:
        values = {s: (kernel[s]["sampled_us_per_request"] if place == "total sampled"
                      else cost(s, place) or 0.0) if s in kernel else None for s in SERVERS}
        rows.append(difference_row(place, values))
    # The loop's wait: how often each server calls it, what a call costs
    # (the first run's time over the second run's count), and how often it
    # found nothing ready and put the thread to sleep (the first run's).
    calls = {s: kernel[s].get("calls_per_request", {}).get("epoll_wait") if s in kernel else None
             for s in SERVERS}
    if any(calls.values()):
        rows.append(difference_row("epoll_wait calls per request (perf stat)", calls))
        per_call = {s: (cost(s, "epoll_wait") or 0.0) / calls[s] if calls[s] else None
                    for s in SERVERS}
        rows.append(difference_row("epoll_wait µs per call", per_call))
    sleeps = {s: kernel[s].get("sleeps_per_request") if s in kernel else None for s in SERVERS}
    if any(value is not None for value in sleeps.values()):
        rows.append(difference_row("sleeps per request (blocking epoll_wait)", sleeps))
    return rows


def difference_row(label, values):
    """label, each server's value and hellod minus nginx."""
    difference = (values["hellod"] - values["nginx"]
                  if values["hellod"] is not None and values["nginx"] is not None else None)
    return ([label] + [f"{values[s]:.3f}" if values[s] is not None else "n/a" for s in SERVERS]
            + [f"{difference:+.3f}" if difference is not None else ""])


def format_kernel_table(summary):
    rows = kernel_rows(summary)
    if not rows:
        return ""
    header = ["keep-alive CPU µs/request by place (perf)", *SERVERS, "hellod - nginx"]
    return layout(header, rows, trailing=0)


# ---- configuration variants (feature cost) -----------------------------------

VARIANT_FIELDS = [("keepalive.rps_per_cpu", "ka req/cpu-s"), ("pipelined.rps_per_cpu",
                  "pipe req/cpu-s"), ("instructions_per_request", "Ir/req"),
                  ("keepalive.written_per_request", "B written/req")]


def variant_rows(summary):
    """One row per server and variant: figures, ratios to that server's baseline."""
    table = summary.get("variants")
    if not table:
        return []
    rows = []
    order = ["baseline"] + [name for name in table if name != "baseline"]
    for server in ("hellod", "nginx"):
        for name in order:
            entry = table[name]
            label = f"{server}: {entry['label']}"
            if entry.get("supported") is False:
                if server == "hellod":
                    rows.append([label, entry["reason"]] + [""] * (2 * len(VARIANT_FIELDS) + 1))
                continue
            figures = entry.get(server)
            if not figures:
                continue
            cells = [label]
            for field, _ in VARIANT_FIELDS:
                cells.append(fmt(figures.get(field)))
                ratio = figures.get(f"{field}_vs_baseline")
                cells.append(f"{ratio:.3f}" if ratio is not None else "")
            targets = entry.get("targets", {}) if server == "hellod" else {}
            cells += [variant_target_text(targets), variant_status(targets, figures)]
            rows.append(cells)
    return rows


def variant_target_text(targets):
    parts = []
    for field, bound in targets.items():
        if field == "instructions_per_request":
            parts.append(f"Ir <= {bound:g}")
        else:
            parts.append(f"{field.split('.')[0]} >= {bound:g}x base")
    return ", ".join(parts)


def variant_status(targets, figures):
    verdicts = []
    for field, bound in targets.items():
        if field == "instructions_per_request":
            value = figures.get(field)
            if value is not None:
                verdicts.append(value <= bound)
        else:
            ratio = figures.get(f"{field}_vs_baseline")
            if ratio is not None:
                verdicts.append(ratio >= bound)
    if not verdicts:
        return ""
    return "ok" if all(verdicts) else "MISS"


def format_variant_table(summary):
    rows = variant_rows(summary)
    if not rows:
        return ""
    # vs base: side by side with the baseline; the baseline's own, against a
    # copy of itself (the method's noise).
    header = ["configuration (1 worker; GET /p1; side by side; medians)"]
    for _, title in VARIANT_FIELDS:
        header += [title, "vs base"]
    header += ["target", ""]
    # An unsupported variant's reason spans the figure columns.
    reasons = {row[0]: row[1] for row in rows if row[1].startswith("not supported")}
    blanked = [[row[0]] + [""] * (len(header) - 1) if row[0] in reasons else row
               for row in rows]
    width = max(len(row[0]) for row in [header] + rows)
    lines = layout(header, blanked).splitlines()
    for index, line in enumerate(lines):
        label = line.strip()
        if label in reasons:
            lines[index] = f"{label.ljust(width)}  {reasons[label]}"
    return "\n".join(lines)


def write_json(path, document):
    with open(path, "w") as f:
        json.dump(document, f, indent=2, sort_keys=True)
        f.write("\n")


# ---- SVG -------------------------------------------------------------------

COLORS = {"hellod": "#2b6cb0", "nginx": "#9c9c9c", "h2o": "#d69e2e"}
VARIANT_COLORS = {"keep-alive": "#2b6cb0", "pipelined": "#68d391"}


def _bar_panel(x0, y0, width, height, title, groups, unit, per_group=False, colors=COLORS,
               ratios=True, reference=None, notes=None):
    """One grouped bar chart: groups is [(label, {series: value})].

    per_group scales each group to its own largest value (for groups in
    different units); ratios adds hellod's ratio to each peer under a group;
    reference draws a dashed line at that value (e.g. 100 %); notes: a line
    of text under some groups ({label: text}). A string value is printed at
    the bar's foot instead of a bar (e.g. "n/a").
    """
    parts = [f'<text x="{x0}" y="{y0 - 24}" font-size="14" font-weight="bold">'
             f'{html.escape(title)}</text>',
             f'<text x="{x0}" y="{y0 - 8}" font-size="11" fill="#555">'
             f'{html.escape(unit)}</text>']
    headroom = 1.12  # room for the value labels above the tallest bar
    numbers = [v for _, values in groups for v in values.values()
               if isinstance(v, (int, float)) and v]
    peak = headroom * max(numbers + [reference or 0, 1])
    group_width = width / max(len(groups), 1)
    bar_width = group_width * 0.8 / len(colors)
    parts.append(f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" '
                 'stroke="#333"/>')
    if reference and not per_group:
        ry = y0 + height - height * reference / peak
        parts.append(f'<line x1="{x0}" y1="{ry:.1f}" x2="{x0 + width}" y2="{ry:.1f}" '
                     'stroke="#333" stroke-dasharray="4 3"/>')
    for index, (label, values) in enumerate(groups):
        gx = x0 + index * group_width + group_width * 0.1
        if per_group:
            peak = headroom * max([v for v in values.values() if v] + [1])
        for offset, series in enumerate(colors):
            value = values.get(series)
            bx = gx + offset * bar_width
            if isinstance(value, str):
                parts.append(f'<text x="{bx + bar_width / 2:.1f}" y="{y0 + height - 4}" '
                             f'font-size="10" fill="#a00" text-anchor="middle">'
                             f'{html.escape(value)}</text>')
                continue
            if value is None:
                continue
            bar_height = height * value / peak
            parts.append(f'<rect x="{bx:.1f}" y="{y0 + height - bar_height:.1f}" '
                         f'width="{bar_width - 2:.1f}" height="{bar_height:.1f}" '
                         f'fill="{colors[series]}"/>')
            parts.append(f'<text x="{bx + bar_width / 2 - 1:.1f}" '
                         f'y="{y0 + height - bar_height - 3:.1f}" font-size="9" '
                         f'text-anchor="middle">{html.escape(_short(value))}</text>')
        center = gx + group_width * 0.4
        lines = _wrap(label, max(int(group_width / 6.5), 8))
        for number, line in enumerate(lines):
            parts.append(f'<text x="{center:.1f}" y="{y0 + height + 14 + 12 * number}" '
                         f'font-size="11" text-anchor="middle">{html.escape(line)}</text>')
        if ratios and values.get("hellod"):
            text = " ".join(f"{values['hellod'] / values[p]:.2f}x {p}" for p in PEERS
                            if values.get(p))
            parts.append(f'<text x="{center:.1f}" y="{y0 + height + 15 + 12 * len(lines)}" '
                         f'font-size="9" fill="#555" text-anchor="middle">'
                         f'{html.escape(text)}</text>')
        if notes and label in notes:
            parts.append(f'<text x="{center:.1f}" y="{y0 + height + 27 + 12 * len(lines)}" '
                         f'font-size="9" fill="#555" text-anchor="middle">'
                         f'{html.escape(notes[label])}</text>')
    return parts


def _side_by_side_notes(summary, scenarios):
    """{scenario's label: "side by side: 1.14x nginx 1.23x h2o"} (run_peer_pairs)."""
    notes = {}
    for key, label in scenarios:
        ratios = summary.get("side_by_side", {}).get(key, {})
        text = " ".join(f"{ratios[f'vs_{p}']:.2f}x {p}" for p in PEERS if ratios.get(f"vs_{p}"))
        if text:
            notes[label] = f"side by side: {text}"
    return notes


def _wrap(text, width):
    """Splits text at spaces into lines of about width characters."""
    lines = [""]
    for word in text.split():
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return lines


def _short(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.3g}"


def _legend(x, y, colors):
    parts = []
    for offset, (series, color) in enumerate(colors.items()):
        parts.append(f'<rect x="{x + offset * 90}" y="{y}" width="12" height="12" '
                     f'fill="{color}"/><text x="{x + 16 + offset * 90}" y="{y + 10}" '
                     f'font-size="12">{html.escape(series)}</text>')
    return parts


def _variant_groups(summary):
    """Each variant's keep-alive and pipelined req per CPU-s, % of the baseline."""
    groups = []
    for name, entry in summary.get("variants", {}).items():
        if name == "baseline":
            continue
        label = entry["label"]
        if entry.get("supported") is False:
            groups.append((label, {"keep-alive": "n/a"}))
            continue
        for server in ("hellod", "nginx"):
            figures = entry.get(server)
            if not figures:
                continue
            values = {}
            for scenario, series in (("keepalive", "keep-alive"), ("pipelined", "pipelined")):
                ratio = figures.get(f"{scenario}.rps_per_cpu_vs_baseline")
                values[series] = ratio * 100 if ratio is not None else None
            groups.append((label if server == "hellod" else f"nginx: {label}", values))
    return groups


def write_svg(path, summary, caption):
    scenarios = [("keepalive", "keep-alive"), ("pipelined", "pipelined x16"),
                 ("close", "conn/request")]
    per_cpu = [(label, {s: lookup(summary, f"{key}.rps_per_cpu", s) for s in COLORS})
               for key, label in scenarios]
    raw = [(label, {s: lookup(summary, f"{key}.rps", s) for s in COLORS})
           for key, label in scenarios]
    scaling = [(f"workers={w}", {s: (entry.get(s) or {}).get("keepalive.rps") for s in COLORS})
               for w, entry in summary.get("scaling", {}).items()]
    costs = [(label, {s: lookup(summary, key, s) for s in COLORS}) for key, label in
             [("callgrind.instructions_per_request", "Ir/request"),
              ("memory.bytes_per_connection", "bytes/idle conn")]]
    connection = [(label, {s: lookup(summary, key, s) for s in COLORS}) for key, label in
                  [("syscalls.per_connection", "syscalls/connection"),
                   ("syscalls.segments_per_connection", "TCP segments/connection"),
                   ("syscalls.per_keepalive_request", "syscalls/ka request"),
                   ("alloc.close_allocs_per_connection", "allocs/connection")]]
    width, height = 960, 980
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" viewBox="0 0 {width} {height}">',
             '<rect width="100%" height="100%" fill="white"/>']
    parts += _bar_panel(50, 60, 400, 200, "Requests per server CPU-second (1 worker)",
                        per_cpu, "higher is better; bars: rotated runs",
                        notes=_side_by_side_notes(summary, scenarios))
    parts += _bar_panel(520, 60, 400, 200, "Raw requests/s (1 worker)", raw, "higher is better")
    parts += _bar_panel(50, 370, 400, 200, "Keep-alive requests/s by workers", scaling,
                        "higher is better")
    parts += _bar_panel(520, 370, 400, 200, "Cost per request / per idle connection", costs,
                        "lower is better", per_group=True)
    parts += _bar_panel(50, 680, 400, 200, "New connections and system calls", connection,
                        "lower is better (allocations: hellod only)", per_group=True)
    variant_groups = _variant_groups(summary)
    if variant_groups:
        parts += _bar_panel(520, 680, 400, 200, "Feature cost: req per CPU-s vs baseline",
                            variant_groups, "% of the server's baseline (dashed), side by "
                            "side; n/a: not in this build",
                            colors=VARIANT_COLORS, ratios=False, reference=100)
        parts += _legend(520, height - 50, VARIANT_COLORS)
    parts += _legend(50, height - 50, COLORS)
    parts.append(f'<text x="{width - 20}" y="{height - 20}" font-size="11" text-anchor="end">'
                 f'{html.escape(caption)}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
