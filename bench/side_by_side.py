# SPDX-License-Identifier: MIT
"""Two servers measured side by side: a configuration variant against its
baseline (what the variant costs), or hellod against nginx or h2o.

The two servers share the server CPUs and two wrk processes (one per server,
same options) share the client CPUs for the same seconds, so whatever the
machine does in those seconds (a neighbouring VM's load, a slower client
core) it does to both, and the ratio of their requests per server
CPU-second is what tells them apart. The wrk that starts first
alternates pair by pair. Alternated runs a minute apart cannot show a 3%
target on a shared 2-core VM: there, two runs of configurations that differ
by one instruction per request came out 0.72x to 1.18x of each other.

Each server's CPU time is read from /proc/PID/task/*/schedstat (nanoseconds
on the CPU), not from /proc/PID/stat, whose 10 ms clock ticks are 1% of a
server's second on a shared core.
"""

import glob
import json
import statistics
import subprocess

from servers import written_bytes


def cpu_seconds(pids):
    """Time the given processes' threads have spent on a CPU, in seconds."""
    nanoseconds = 0
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as f:
                    nanoseconds += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that exited between glob and open
    return nanoseconds / 1e9


def wrk_requests(out):
    """Completed requests and errors from bench/wrk's BENCH_JSON line."""
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line.split(" ", 1)[1])
    return result["requests"], result["errors"]


def measure_pair(servers_in_order, commands, timeout):
    """Both wrk commands at once, each against its server; one figure per server
    (same order): requests, CPU seconds, req/CPU-s, bytes written per request."""
    before = [(cpu_seconds(s.all_pids()), written_bytes(s.all_pids())) for s in servers_in_order]
    clients = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for cmd in commands]
    try:
        outputs = [client.communicate(timeout=timeout)[0] for client in clients]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait(10)
    figures = []
    for server, client, out, (cpu_before, written_before) in zip(
            servers_in_order, clients, outputs, before):
        if client.returncode != 0:
            raise RuntimeError(f"wrk against {server.key} exited {client.returncode}")
        server.check_alive()
        requests, errors = wrk_requests(out)
        cpu = cpu_seconds(server.all_pids()) - cpu_before
        written = written_bytes(server.all_pids()) - written_before
        figures.append({"key": server.key, "requests": requests, "cpu_seconds": cpu,
                        "rps_per_cpu": requests / cpu if cpu > 0 else None,
                        "written_per_request": written / requests if requests else None,
                        "errors": errors})
    return figures


def run_pairs(baseline, variant, scenario, repeats, command_for, timeout):
    """repeats side-by-side measurements of variant against baseline; the wrk
    started first alternates. Returns one record per measurement."""
    records = []
    for repeat in range(repeats):
        order = [baseline, variant] if repeat % 2 == 0 else [variant, baseline]
        figures = dict(zip((s.key for s in order),
                           measure_pair(order, [command_for(s) for s in order], timeout)))
        base, measured = figures[baseline.key], figures[variant.key]
        ratio = (measured["rps_per_cpu"] / base["rps_per_cpu"]
                 if measured["rps_per_cpu"] and base["rps_per_cpu"] else None)
        records.append({"scenario": scenario, "repeat": repeat, "first": order[0].key,
                        "baseline": base, "variant": measured, "ratio": ratio})
    return records


def figures(records, scenario, side):
    """Medians over one scenario's records, for the JSON's variant table: the
    side's ("variant" or "baseline") req/CPU-s and bytes written per request,
    and the ratio variant / baseline."""
    chosen = [r for r in records if r["scenario"] == scenario]
    if not chosen:
        return {}

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    return {f"{scenario}.rps_per_cpu": median(r[side]["rps_per_cpu"] for r in chosen),
            f"{scenario}.written_per_request": median(r[side]["written_per_request"]
                                                      for r in chosen),
            f"{scenario}.rps_per_cpu_vs_baseline": median(r["ratio"] for r in chosen),
            f"{scenario}.side_by_side_ratios": [r["ratio"] for r in chosen]}
