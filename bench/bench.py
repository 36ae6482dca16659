#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hellod vs nginx, side by side on loopback (issue 5). Run it via bench/run.sh.

Phases, each bounded in time:
  alloc      heap allocations per request (bench/alloc_count.cpp), hellod only
  throughput wrk keep-alive (-c100), pipelined x16 and connection-per-request,
             servers alternated A B A B for --rounds rounds, for each worker
             count; req/s, server CPU time (utime+stime from /proc) and latency
  memory     VmRSS growth per idle keep-alive connection with --idle connections
  syscalls   strace -c -f over a fixed number of keep-alive requests (ab -k) and
             of 16-deep pipelined batches (clients.py batches)
  callgrind  user-space instructions per keep-alive request: two runs of each
             server under callgrind (ab -k -c1 with N0 and N0+N requests); the
             difference divided by N leaves start-up and shutdown out
Prints one table and writes results/latest.json and results/latest.svg.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import servers  # noqa: E402
from servers import Hellod, Nginx, wait_for  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SERVER_NAMES = ("hellod", "nginx")
SCENARIOS = ("keepalive", "pipelined", "close")


class Bench:
    def __init__(self, args):
        self.args = args
        self.cpus = sorted(os.sched_getaffinity(0))
        self.live = []  # servers and client processes to stop on the way out
        self.created = []  # servers whose temporary directories go at the end
        self.runs = []  # every measured wrk run, for the JSON
        self.summary = {}
        self.notes = []

    # ---- process bookkeeping ------------------------------------------------

    def start(self, server):
        self.live.append(server)
        self.created.append(server)
        return server.start(timeout=self.args.start_timeout)

    def stop(self, server):
        server.stop()
        if server in self.live:
            self.live.remove(server)

    def cleanup(self):
        for item in reversed(self.live):
            try:
                if isinstance(item, subprocess.Popen):
                    item.kill()
                    item.wait(10)
                else:
                    item.stop()
            except Exception as error:  # keep cleaning up the rest
                print(f"cleanup: {error}", file=sys.stderr)
        self.live.clear()
        for server in self.created:
            shutil.rmtree(server.dir, ignore_errors=True)

    def placement(self, workers):
        """(server CPUs, client CPUs): separate when there are enough, else all shared."""
        if len(self.cpus) >= workers + 1:
            return self.cpus[:workers], self.cpus[workers:]
        return None, None

    def servers_for(self, workers, **kwargs):
        server_cpus, _ = self.placement(workers)
        return [Hellod(self.args.hellod, workers, cpus=server_cpus, **kwargs),
                Nginx(workers, cpus=server_cpus, **kwargs)]

    # ---- phases ---------------------------------------------------------------

    def run_alloc(self):
        cmd = [self.args.alloc_count, "--requests", str(self.args.alloc_requests)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
        self.summary["alloc"] = {"hellod": result}
        print(f"alloc: {result['keepalive_allocs_per_request']} allocations per keep-alive "
              f"request, {result['pipelined_allocs_per_request']} per pipelined request")

    def wrk(self, server, scenario, duration, workers):
        _, client_cpus = self.placement(workers)
        threads = len(client_cpus) if client_cpus else len(self.cpus)
        cmd = ["wrk", f"-t{threads}", f"-c{self.args.connections}", f"-d{duration}s",
               "--timeout", "5s", "--latency"]
        script = "pipeline.lua" if scenario == "pipelined" else "keepalive.lua"
        if scenario == "close":
            cmd += ["-H", "Connection: close"]
        cmd += ["-s", os.path.join(BENCH_DIR, "wrk", script), f"http://127.0.0.1:{server.port}/"]
        if scenario == "pipelined":
            cmd += ["--", str(self.args.depth)]
        if client_cpus:
            cmd = ["taskset", "-c", ",".join(map(str, client_cpus))] + cmd
        cpu_before = servers.cpu_seconds(server.all_pids())
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30,
                             check=True).stdout
        cpu = servers.cpu_seconds(server.all_pids()) - cpu_before
        server.check_alive()
        line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
        result = json.loads(line.split(" ", 1)[1])
        seconds = result["duration_us"] / 1e6
        return {"server": server.name, "scenario": scenario, "workers": workers,
                "requests": result["requests"], "seconds": seconds,
                "rps": result["requests"] / seconds, "cpu_seconds": cpu,
                "rps_per_cpu": result["requests"] / cpu if cpu > 0 else None,
                "p50_ms": result["latency_us"]["p50"] / 1000,
                "p99_ms": result["latency_us"]["p99"] / 1000,
                "errors": result["errors"]}

    def run_throughput(self, workers, scenarios):
        pair = [self.start(server) for server in self.servers_for(workers)]
        try:
            for server in pair:  # warm-up, not recorded
                self.wrk(server, "keepalive", 1, workers)
            for round_index in range(self.args.rounds):
                for scenario in scenarios:
                    # A B A B: the server that goes first alternates by round.
                    order = pair if round_index % 2 == 0 else pair[::-1]
                    for server in order:
                        run = self.wrk(server, scenario, self.args.duration, workers)
                        run["round"] = round_index
                        self.runs.append(run)
                        print(f"  w={workers} round {round_index + 1} {scenario:9} "
                              f"{server.name:6} {run['rps']:>11,.0f} req/s "
                              f"{run['rps_per_cpu'] or 0:>11,.0f} req/cpu-s "
                              f"p99 {run['p99_ms']:.2f} ms", flush=True)
        finally:
            for server in pair:
                self.stop(server)

    def summarize_throughput(self):
        by_workers = {}
        for run in self.runs:
            key = (run["workers"], run["scenario"], run["server"])
            by_workers.setdefault(key, []).append(run)
        for (workers, scenario, server), runs in by_workers.items():
            medians = {field: statistics.median(r[field] for r in runs if r[field] is not None)
                       for field in ("rps", "rps_per_cpu", "p50_ms", "p99_ms")}
            if workers == 1:
                self.summary.setdefault(scenario, {})[server] = medians
            label = self.worker_labels[workers]
            entry = self.summary.setdefault("scaling", {}).setdefault(label, {})
            entry.setdefault(server, {})[f"{scenario}.rps"] = medians["rps"]

    def run_memory(self):
        count = self.args.idle
        for server in self.servers_for(1):
            self.start(server)
            try:
                self.summary.setdefault("memory", {})[server.name] = self.idle_growth(server, count)
            finally:
                self.stop(server)
            print(f"  memory {server.name}: "
                  f"{self.summary['memory'][server.name]['kib_per_connection']:.3f} KiB per idle "
                  "connection", flush=True)

    def idle_growth(self, server, count):
        subprocess.run(["ab", "-k", "-n", "100", "-c", "4", f"http://127.0.0.1:{server.port}/"],
                       capture_output=True, timeout=30, check=True)
        before = servers.rss_kib(server.serving_pids())
        client = subprocess.Popen([sys.executable, os.path.join(BENCH_DIR, "clients.py"), "hold",
                                   str(server.port), str(count)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.live.append(client)
        try:
            line = client.stdout.readline()  # bounded: the client's own I/O timeouts
            if not line.startswith("ready"):
                raise RuntimeError(f"idle client failed: {line!r}")
            time.sleep(0.5)  # let the server finish the last accepts' bookkeeping
            server.check_alive()
            after = servers.rss_kib(server.serving_pids())
        finally:
            client.stdin.close()
            client.wait(30)
            self.live.remove(client)
        return {"connections": count, "rss_before_kib": before, "rss_after_kib": after,
                "kib_per_connection": (after - before) / count,
                "bytes_per_connection": (after - before) * 1024 / count}

    def strace(self, server, client_cmd):
        """System calls the server makes while client_cmd runs: (total, by name)."""
        out = os.path.join(server.dir, "strace.txt")
        err_path = os.path.join(server.dir, "strace.err")
        targets = server.serving_pids()
        cmd = ["strace", "-c", "-f", "-o", out]
        for pid in targets:
            cmd += ["-p", str(pid)]
        with open(err_path, "w") as err:
            tracer = subprocess.Popen(cmd, stderr=err)
        self.live.append(tracer)
        try:
            # One "Process N attached [with M threads]" line per -p.
            wait_for(lambda: read_text(err_path).count("attached") >= len(targets), 20,
                     "strace to attach")
            subprocess.run(client_cmd, capture_output=True, timeout=120, check=True)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
            self.live.remove(tracer)
        return parse_strace(read_text(out))

    def run_syscalls(self):
        n = self.args.strace_requests
        batches = max(n // self.args.depth, 1)
        for server in self.servers_for(1):
            self.start(server)
            try:
                url = f"http://127.0.0.1:{server.port}/"
                ab = ["ab", "-k", "-n", str(n), "-c", str(self.args.strace_concurrency), url]
                keepalive_total, keepalive_calls = self.strace(server, ab)
                pipe = [sys.executable, os.path.join(BENCH_DIR, "clients.py"), "batches",
                        str(server.port), str(batches), str(self.args.depth),
                        str(self.args.strace_concurrency)]
                batch_total, batch_calls = self.strace(server, pipe)
            finally:
                self.stop(server)
            self.summary.setdefault("syscalls", {})[server.name] = {
                "per_keepalive_request": keepalive_total / n,
                "per_pipelined_batch": batch_total / batches,
                "keepalive_by_name": {k: v / n for k, v in keepalive_calls.items()},
                "pipelined_by_name": {k: v / batches for k, v in batch_calls.items()}}
            print(f"  syscalls {server.name}: {keepalive_total / n:.2f} per keep-alive request, "
                  f"{batch_total / batches:.2f} per batch of {self.args.depth}", flush=True)

    def callgrind_run(self, server_factory, requests, tag):
        """Runs a fresh server under callgrind for `requests` ab -k -c1 requests."""
        server = server_factory()
        out = os.path.join(server.dir, f"callgrind.{tag}.out")
        server.wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        self.start(server)
        try:
            subprocess.run(["ab", "-k", "-n", str(requests), "-c", "1",
                            f"http://127.0.0.1:{server.port}/"],
                           capture_output=True, timeout=300, check=True)
        finally:
            self.stop(server)
        return out

    def run_callgrind(self):
        base, extra = self.args.callgrind_base, self.args.callgrind_requests
        server_cpus, _ = self.placement(1)
        factories = {
            "hellod": lambda: Hellod(self.args.hellod, 1, cpus=server_cpus),
            # One process: the same serving code as a worker, and one profile.
            "nginx": lambda: Nginx(1, cpus=server_cpus, master_process=False),
        }
        for name, factory in factories.items():
            short = self.callgrind_run(factory, base, "base")
            long = self.callgrind_run(factory, base + extra, "long")
            per_request = (callgrind_total(long) - callgrind_total(short)) / extra
            top = top_functions(short, long, extra)
            os.makedirs(self.args.out, exist_ok=True)
            kept = os.path.join(self.args.out, f"callgrind.{name}.out")
            shutil.copyfile(long, kept)
            self.summary.setdefault("callgrind", {})[name] = {
                "instructions_per_request": per_request, "requests": extra,
                "top_functions": top[:40], "profile": kept}
            print(f"  callgrind {name}: {per_request:,.0f} instructions per keep-alive request",
                  flush=True)

    # ---- the whole run --------------------------------------------------------

    def run(self):
        a = self.args
        started = time.monotonic()
        counts = []
        self.worker_labels = {}
        for spec in a.workers.split(","):
            count = len(self.cpus) if spec == "auto" else int(spec)
            if count in self.worker_labels:
                self.worker_labels[count] += f"={spec}"
                self.notes.append(f"workers={spec} resolves to {count}, measured once")
                continue
            self.worker_labels[count] = spec if spec != "auto" else f"auto({count})"
            counts.append(count)
        phases = set(a.phases.split(","))
        if "alloc" in phases:
            self.run_alloc()
        if "throughput" in phases:
            for count in counts:
                scenarios = SCENARIOS if count == 1 else ("keepalive", "pipelined")
                print(f"throughput, {count} worker(s), placement {self.placement(count)}",
                      flush=True)
                self.run_throughput(count, scenarios)
            self.summarize_throughput()
        if "memory" in phases:
            print(f"memory: {a.idle} idle keep-alive connections", flush=True)
            self.run_memory()
        if "syscalls" in phases:
            print("syscalls: strace -c -f", flush=True)
            self.run_syscalls()
        if "callgrind" in phases:
            print("callgrind: valgrind --tool=callgrind (slow)", flush=True)
            self.run_callgrind()
        self.elapsed = time.monotonic() - started

    def write(self):
        a = self.args
        caption = (f"{time.strftime('%Y-%m-%d %H:%M')}, {len(self.cpus)} CPUs, "
                   f"{a.rounds} rounds x {a.duration}s, wrk -c{a.connections}")
        table = report.format_table(self.summary)
        print()
        print(table)
        for note in self.notes:
            print(f"note: {note}")
        top = self.summary.get("callgrind", {}).get("hellod", {}).get("top_functions")
        if top:
            print("\nhellod: instructions per keep-alive request by function (self cost)")
            for entry in top[:15]:
                print(f"  {entry['per_request']:>9.1f}  {entry['function']}")
        os.makedirs(a.out, exist_ok=True)
        document = {"caption": caption, "command": " ".join(sys.argv), "cpus": self.cpus,
                    "options": vars(a), "elapsed_seconds": round(self.elapsed, 1),
                    "summary": self.summary, "runs": self.runs, "notes": self.notes,
                    "table": table.splitlines()}
        report.write_json(os.path.join(a.out, "latest.json"), document)
        report.write_svg(os.path.join(a.out, "latest.svg"), self.summary, caption)
        print(f"\nwrote {a.out}/latest.json and latest.svg in {self.elapsed:.0f}s")


def read_text(path):
    with open(path) as f:
        return f.read()


def parse_strace(text):
    """strace -c's table -> (total calls, {syscall: calls})."""
    calls, total = {}, 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0][0].isdigit():
            continue
        name = fields[-1]
        count = int(fields[3])
        if name == "total":
            total = count
        else:
            calls[name] = count
    return total, calls


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def function_costs(path):
    """Self instructions per function, from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    costs = {}
    for line in out.splitlines():
        match = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
        if match and "PROGRAM TOTALS" not in line:
            name = match.group(2).strip()
            costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


def top_functions(short, long, requests):
    """Per-request self cost by function: the long run minus the short one."""
    before, after = function_costs(short), function_costs(long)
    rows = [{"function": name, "per_request": (cost - before.get(name, 0)) / requests}
            for name, cost in after.items()]
    rows.sort(key=lambda row: -row["per_request"])
    return [row for row in rows if row["per_request"] > 0.5]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hellod", required=True, help="hellod binary")
    parser.add_argument("--alloc-count", required=True, help="hellod_alloc_count binary")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 2 s, fewer requests: a development check (~3 min)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--depth", type=int, default=16, help="pipelined requests per write")
    parser.add_argument("--workers", default="1,2,auto")
    parser.add_argument("--idle", type=int, default=10000, help="idle connections for memory")
    parser.add_argument("--strace-requests", type=int, default=20000)
    parser.add_argument("--strace-concurrency", type=int, default=8)
    parser.add_argument("--callgrind-requests", type=int, default=20000)
    parser.add_argument("--callgrind-base", type=int, default=1000)
    parser.add_argument("--alloc-requests", type=int, default=100000)
    parser.add_argument("--start-timeout", type=float, default=60)
    parser.add_argument("--phases", default="alloc,throughput,memory,syscalls,callgrind")
    parser.add_argument("--out", default=os.path.join(BENCH_DIR, "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 2
        args.strace_requests = min(args.strace_requests, 8000)
        args.callgrind_requests = min(args.callgrind_requests, 5000)
    return args


def interrupt(_signal, _frame):
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10k idle connections
    # SIGTERM (e.g. from run.sh's trap or timeout) unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt)
    bench = Bench(args)
    try:
        bench.run()
        bench.write()
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
