#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hellod vs nginx and h2o, side by side on loopback (issues 5 and 13).
Run it via bench/run.sh.

Phases, each bounded in time:
  alloc      heap allocations per request and per one-shot connection
             (bench/alloc_count.cpp), hellod only
  throughput wrk keep-alive (-c100), pipelined x16 and connection-per-request,
             servers rotated run by run for --rounds rounds, for each worker
             count; req/s, server CPU time (utime+stime from /proc) and
             latency. Then, with 1 worker, hellod side by side with nginx
             and with h2o in keep-alive and connection-per-request runs,
             the floor (floor_server.cpp: no HTTP work) side by side with
             nginx and hellod with the floor, keep-alive (not with
             --quick), and each configuration variant of --variants
             (variants.yaml) side by side with the baseline in keep-alive
             and pipelined runs (bench/side_by_side.py): --side-by-side
             pairs of runs, both servers on the same CPUs at the same time.
  memory     VmRSS growth per idle keep-alive connection with --idle connections
  syscalls   exact counts (perf stat of the syscall tracepoints,
             bench/syscall_counter.py) over a fixed number of keep-alive
             requests (ab -k), of 16-deep pipelined batches (clients.py
             batches) and of one-shot connections (ab without -k)
  kernel     where each server's CPU time per keep-alive request goes, per
             system call (perf record -g under wrk, bench/kernel_profile.py)
  callgrind  user-space instructions per keep-alive request: two runs of each
             server (and variant) under callgrind (ab -k -c1 with N0 and N0+N
             requests); the difference divided by N leaves start-up and
             shutdown out
Prints the tables and writes results/latest.json and results/latest.svg.
"""

import argparse
import concurrent.futures
import glob
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
import kernel_profile  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import side_by_side  # noqa: E402
import syscall_counter  # noqa: E402
import variants as variants_module  # noqa: E402
from servers import PATH, Floor, H2o, Hellod, Nginx, fetch_response, wait_for  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = ("keepalive", "pipelined", "close")
VARIANT_SCENARIOS = ("keepalive", "pipelined")
PEER_PAIR_SCENARIOS = ("keepalive", "close")  # the per-CPU-second targets against peers
MEDIAN_FIELDS = ("rps", "rps_per_cpu", "user_us_per_request", "system_us_per_request", "p50_ms",
                 "p99_ms", "written_per_request")


# The keep-alive path's calls, which the kernel phase counts: fewer names,
# less time for perf to take its tracepoints down.
KEEPALIVE_CALLS = ("epoll_wait", "read", "recvfrom", "writev", "sendto", "sendmsg")


class Bench:
    def __init__(self, args):
        self.args = args
        self.cpus = sorted(os.sched_getaffinity(0))
        self.live = []  # servers and client processes to stop on the way out
        self.created = []  # servers whose temporary directories go at the end
        self.runs = []  # every measured wrk run, for the JSON
        self.pairs = {}  # a variant's key, or hellod/PEER -> side_by_side records
        self.summary = {}
        self.notes = []
        self.phase_seconds = {}
        self.variants = variants_module.load(args.variants) if "variants" in args.phases else []

    # ---- process bookkeeping ------------------------------------------------

    def made(self, server):
        """Registers a server set up (its directory exists) but not yet started."""
        self.created.append(server)
        return server

    def start(self, server):
        if server not in self.created:
            self.created.append(server)
        self.live.append(server)
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
        return [self.made(Hellod(self.args.hellod, workers, cpus=server_cpus, **kwargs)),
                self.made(Nginx(workers, cpus=server_cpus, **kwargs)),
                self.made(H2o(workers, cpus=server_cpus, **kwargs))]

    def url(self, server):
        return f"http://127.0.0.1:{server.port}{PATH}"

    # ---- phases ---------------------------------------------------------------

    def run_alloc(self):
        cmd = [self.args.alloc_count, "--requests", str(self.args.alloc_requests),
               "--connections", str(self.args.alloc_connections)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
        self.summary["alloc"] = {"hellod": result}
        print(f"  {result['keepalive_allocs_per_request']} allocations per keep-alive request, "
              f"{result['pipelined_allocs_per_request']} per pipelined request, "
              f"{result['close_allocs_per_connection']} per one-shot connection", flush=True)

    def wrk_command(self, server, scenario, duration, workers, threads=None):
        """wrk against server, on the client CPUs (threads: one per client CPU)."""
        _, client_cpus = self.placement(workers)
        threads = threads or (len(client_cpus) if client_cpus else len(self.cpus))
        cmd = ["wrk", f"-t{threads}", f"-c{self.args.connections}", f"-d{duration}s",
               "--timeout", "5s", "--latency"]
        script = "pipeline.lua" if scenario == "pipelined" else "keepalive.lua"
        if scenario == "close":
            cmd += ["-H", "Connection: close"]
        cmd += ["-s", os.path.join(BENCH_DIR, "wrk", script), self.url(server)]
        if scenario == "pipelined":
            cmd += ["--", str(self.args.depth)]
        if client_cpus:
            cmd = ["taskset", "-c", ",".join(map(str, client_cpus))] + cmd
        return cmd

    def wrk(self, server, scenario, duration, workers):
        cmd = self.wrk_command(server, scenario, duration, workers)
        user_before, system_before = servers.cpu_times(server.all_pids())
        written_before = servers.written_bytes(server.all_pids())
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30,
                             check=True).stdout
        user_after, system_after = servers.cpu_times(server.all_pids())
        user, system = user_after - user_before, system_after - system_before
        cpu = user + system
        written = servers.written_bytes(server.all_pids()) - written_before
        server.check_alive()
        line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
        result = json.loads(line.split(" ", 1)[1])
        seconds = result["duration_us"] / 1e6
        errors = result["errors"]
        if errors["status"] or errors["read"] or errors["write"] or errors["timeout"]:
            self.notes.append(f"{server.key} {scenario}: wrk errors {errors}")
        return {"server": server.name, "key": server.key, "variant": server.variant,
                "scenario": scenario, "workers": workers,
                "requests": result["requests"], "seconds": seconds,
                "rps": result["requests"] / seconds, "cpu_seconds": cpu,
                "rps_per_cpu": result["requests"] / cpu if cpu > 0 else None,
                # Where the CPU goes: the server's own code (user) and the
                # kernel's work for it (system), per request, in µs.
                "user_us_per_request": (user * 1e6 / result["requests"]
                                        if result["requests"] else None),
                "system_us_per_request": (system * 1e6 / result["requests"]
                                          if result["requests"] else None),
                "p50_ms": result["latency_us"]["p50"] / 1000,
                "p99_ms": result["latency_us"]["p99"] / 1000,
                # Responses and anything else written (an access log): wchar.
                "written_per_request": written / result["requests"] if result["requests"] else None,
                "errors": errors}

    def check_variants(self):
        """Which variants this build can run: --check-config must accept the
        configuration, and a server started with it must answer GET /p1 with
        the baseline's body (and serve metrics, if it turns them on)."""
        for variant in self.variants:
            probe = self.made(variant.hellod(self.args.hellod))
            reason = probe.check_config()
            # hellod names the file; the temporary directory says nothing.
            variant.unsupported = reason and reason.replace(probe.config_path, "hellod.yaml")
            if not variant.unsupported:
                variant.unsupported = self.probe_variant(probe, variant)
            shutil.rmtree(probe.dir, ignore_errors=True)
            verdict = (f"not supported by this build ({variant.unsupported})"
                       if variant.unsupported else "accepted and in effect")
            print(f"  {variant.name}: {verdict}", flush=True)

    def probe_variant(self, server, variant):
        """None when the started variant serves /p1 (and its metrics), else why not."""
        self.start(server)
        try:
            status, body = variants_module.get(self.url(server))
            if status != 200 or body.decode(errors="replace") != servers.BODY:
                return (f"accepted by --check-config, but GET {PATH} answered {status} "
                        f"{body[:40]!r}: not in effect yet")
            url = variants_module.metrics_url(server)
            if url:
                status, body = variants_module.get(url)
                self.summary.setdefault("metrics_scrapes", {})[variant.name] = {
                    "url": url, "status": status, "bytes": len(body)}
                if status != 200 or not body:
                    return f"accepted by --check-config, but GET {url} answered {status}"
        finally:
            self.stop(server)
        return None

    def supported_variants(self):
        return [variant for variant in self.variants if not variant.unsupported]

    def throughput_entries(self, workers):
        """(server, scenarios) for one worker count: the three servers, in every
        scenario with 1 worker, keep-alive and pipelined with more."""
        scenarios = SCENARIOS if workers == 1 else VARIANT_SCENARIOS
        return [(server, scenarios) for server in self.servers_for(workers)]

    def run_throughput(self, workers, rounds):
        entries = self.throughput_entries(workers)
        for server, _ in entries:
            self.start(server)
        try:
            if self.args.warmup:
                for server, _ in entries:  # warm-up, not recorded
                    self.wrk(server, "keepalive", self.args.warmup, workers)
            for round_index in range(rounds):
                for scenario in SCENARIOS:
                    # Rotated by round: each server takes each place in turn.
                    group = [server for server, wanted in entries if scenario in wanted]
                    if not group:
                        continue
                    shift = round_index % len(group)
                    for server in group[shift:] + group[:shift]:
                        run = self.wrk(server, scenario, self.args.duration, workers)
                        run["round"] = round_index
                        self.runs.append(run)
                        print(f"  w={workers} round {round_index + 1} {scenario:9} "
                              f"{server.key:24} {run['rps']:>11,.0f} req/s "
                              f"{run['rps_per_cpu'] or 0:>11,.0f} req/cpu-s "
                              f"p99 {run['p99_ms']:.2f} ms", flush=True)
        finally:
            for server, _ in entries:
                self.stop(server)

    def run_variant_pairs(self):
        """Each supported variant side by side with its server's baseline (and,
        for the method's own noise, a second copy of hellod's baseline), 1
        worker, keep-alive and pipelined; records in self.pairs."""
        server_cpus, _ = self.placement(1)
        pairs = [(self.made(Hellod(self.args.hellod, 1, cpus=server_cpus)),
                  self.made(Hellod(self.args.hellod, 1, cpus=server_cpus, variant="copy")))]
        for variant in self.supported_variants():
            if self.args.quick and not variant.throughput_targets():
                continue  # --quick keeps under a minute: what has a target only
            pairs.append((self.made(Hellod(self.args.hellod, 1, cpus=server_cpus)),
                          self.made(variant.hellod(self.args.hellod, server_cpus))))
            if variant.with_nginx:
                pairs.append((self.made(Nginx(1, cpus=server_cpus)),
                              self.made(variant.nginx(server_cpus))))
        for baseline, variant in pairs:
            self.run_pair(baseline, variant)

    def run_peer_pairs(self):
        """hellod side by side with nginx, then with h2o, 1 worker each, in the
        modes with a per-CPU-second target: the same ratio as the rotation's,
        with the machine's drift cancelled (side_by_side.py)."""
        server_cpus, _ = self.placement(1)
        for peer in (Nginx(1, cpus=server_cpus), H2o(1, cpus=server_cpus)):
            self.run_pair(self.made(peer), self.made(Hellod(self.args.hellod, 1, cpus=server_cpus)),
                          PEER_PAIR_SCENARIOS, name=f"hellod/{peer.name}")
        self.summary["side_by_side"] = {
            scenario: {f"vs_{peer}": side_by_side.figures(
                self.pairs.get(f"hellod/{peer}", []), scenario, "variant").get(
                    f"{scenario}.rps_per_cpu_vs_baseline") for peer in ("nginx", "h2o")}
            for scenario in PEER_PAIR_SCENARIOS}

    def run_floor_pairs(self):
        """The floor (bench/floor_server.cpp, hellod's response bytes and
        loop shape without its HTTP work) side by side with nginx, and hellod
        side by side with the floor, keep-alive: how far the kernel's
        loopback work alone lets a server go past nginx per CPU-second, and
        what hellod's own work costs against that."""
        server_cpus, _ = self.placement(1)
        response = self.hellod_response()
        self.run_pair(self.made(Nginx(1, cpus=server_cpus)),
                      self.made(Floor(self.args.floor, response, cpus=server_cpus)),
                      ("keepalive",), name="floor/nginx")
        self.run_pair(self.made(Floor(self.args.floor, response, cpus=server_cpus)),
                      self.made(Hellod(self.args.hellod, 1, cpus=server_cpus)),
                      ("keepalive",), name="hellod/floor")
        self.summary["floor"] = {
            name.replace("/", "_vs_"): side_by_side.figures(
                self.pairs.get(name, []), "keepalive", "variant").get(
                    "keepalive.rps_per_cpu_vs_baseline")
            for name in ("floor/nginx", "hellod/floor")}
        self.summary["floor"]["response_bytes"] = len(response)

    def hellod_response(self):
        """The bytes of the baseline hellod's response to the clients' request."""
        hellod = self.made(Hellod(self.args.hellod, 1))
        self.start(hellod)
        try:
            return fetch_response(hellod.port)
        finally:
            self.stop(hellod)

    def run_pair(self, baseline, variant, scenarios=VARIANT_SCENARIOS, name=None):
        """Side-by-side records of variant against baseline in each scenario,
        kept in self.pairs[name or variant's key]."""
        # Each wrk gets one thread: the two share the client CPUs.
        def command(server, scenario):
            return self.wrk_command(server, scenario, self.args.duration, 1, threads=1)

        name = name or variant.key
        for server in (baseline, variant):
            self.start(server)
        try:
            records = []
            for scenario in scenarios:
                found = side_by_side.run_pairs(
                    baseline, variant, scenario, self.args.side_by_side,
                    lambda server, s=scenario: command(server, s), self.args.duration + 30)
                for record in found:
                    print(f"  side by side {scenario:9} {name:24} "
                          f"{record['variant']['rps_per_cpu'] or 0:>11,.0f} req/cpu-s, "
                          f"baseline {record['baseline']['rps_per_cpu'] or 0:>11,.0f}: "
                          f"{record['ratio'] or 0:.3f}", flush=True)
                    for side in ("baseline", "variant"):
                        if any(record[side]["errors"].values()):
                            self.notes.append(f"{record[side]['key']} {scenario} side by side: "
                                              f"wrk errors {record[side]['errors']}")
                records += found
            self.pairs[name] = records
        finally:
            for server in (baseline, variant):
                self.stop(server)

    def summarize_throughput(self):
        grouped = {}
        for run in self.runs:
            grouped.setdefault((run["workers"], run["scenario"], run["key"]), []).append(run)
        for (workers, scenario, key), runs in grouped.items():
            medians = {}
            for field in MEDIAN_FIELDS:
                values = [r[field] for r in runs if r[field] is not None]
                medians[field] = statistics.median(values) if values else None
            if workers == 1:
                self.summary.setdefault(scenario, {})[key] = medians
            if ":" in key:
                continue
            label = self.worker_labels[workers]
            entry = self.summary.setdefault("scaling", {}).setdefault(label, {})
            entry.setdefault(key, {})[f"{scenario}.rps"] = medians["rps"]

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
        subprocess.run(["ab", "-k", "-n", "100", "-c", "4", self.url(server)],
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

    def count_syscalls(self, server, client_cmd):
        """System calls the server makes while client_cmd runs, counted exactly
        and without slowing it (bench/syscall_counter.py): (total, by name,
        failed by name)."""
        _, output = self.counted_calls(server, lambda: subprocess.run(
            client_cmd, capture_output=True, timeout=120, check=True))
        return syscall_counter.read_counts(output)

    def counted_calls(self, server, run, names=syscall_counter.NAMED_CALLS,
                      failing=syscall_counter.FAILING_CALLS):
        """run() while syscall_counter's perf stat counts the server's calls:
        (what run returned, the path of perf stat's output)."""
        output, control, ack = (os.path.join(server.dir, name)
                                for name in ("perf-stat.csv", "perf-control", "perf-ack"))
        for fifo in (control, ack):
            if os.path.exists(fifo):
                os.unlink(fifo)
            os.mkfifo(fifo)
        result = self.under_perf(
            syscall_counter.count_command(output, server.serving_pids(), control, ack, names,
                                          failing),
            lambda: syscall_counter.enable_counting(control, ack), run)
        return result, output

    def under_perf(self, perf_command, attached, run):
        """run() while perf_command watches the server, once attached() says it does."""
        recorder = subprocess.Popen(perf_command, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        self.live.append(recorder)
        try:
            wait_for(attached, 20, "perf to attach")
            return run()
        finally:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(60)
            self.live.remove(recorder)

    def run_syscalls(self):
        a = self.args
        n, connections = a.syscall_requests, a.syscall_connections
        batches = max(n // a.depth, 1)
        for server in self.servers_for(1):
            self.start(server)
            try:
                ab = ["ab", "-k", "-n", str(n), "-c", str(a.syscall_concurrency), self.url(server)]
                keepalive_total, keepalive_calls, keepalive_errors = self.count_syscalls(server, ab)
                pipe = [sys.executable, os.path.join(BENCH_DIR, "clients.py"), "batches",
                        str(server.port), str(batches), str(a.depth), str(a.syscall_concurrency)]
                batch_total, batch_calls, batch_errors = self.count_syscalls(server, pipe)
                # Without -k, ab speaks HTTP/1.0 without keep-alive: one request
                # per connection, which the server closes after its response.
                one_shot = ["ab", "-n", str(connections), "-c", str(a.syscall_concurrency),
                            self.url(server)]
                segments_before = servers.tcp_segments_sent()
                close_total, close_calls, close_errors = self.count_syscalls(server, one_shot)
                segments = servers.tcp_segments_sent() - segments_before
            finally:
                self.stop(server)
            self.summary.setdefault("syscalls", {})[server.name] = {
                "per_keepalive_request": keepalive_total / n,
                "per_pipelined_batch": batch_total / batches,
                "per_connection": close_total / connections,
                "segments_per_connection": segments / connections,
                "keepalive_by_name": {k: v / n for k, v in keepalive_calls.items()},
                "pipelined_by_name": {k: v / batches for k, v in batch_calls.items()},
                "connection_by_name": {k: v / connections for k, v in close_calls.items()},
                # Calls that returned an error (EAGAIN, ENOENT...), per the same unit.
                "keepalive_errors_by_name": {k: v / n for k, v in keepalive_errors.items()},
                "pipelined_errors_by_name": {k: v / batches for k, v in batch_errors.items()},
                "connection_errors_by_name": {k: v / connections
                                              for k, v in close_errors.items()}}
            print(f"  syscalls {server.name}: {keepalive_total / n:.2f} per keep-alive request, "
                  f"{batch_total / batches:.2f} per batch of {a.depth}, "
                  f"{close_total / connections:.2f} per one-shot connection "
                  f"({segments / connections:.2f} TCP segments)", flush=True)

    def profile_keepalive(self, server):
        """perf record -g of the server while wrk runs keep-alive: (wrk entry, with
        how often the server slept per request, {place: ns})."""
        data = os.path.join(server.dir, "perf.data")
        slept = servers.sleeps(server.serving_pids())
        entry = self.under_perf(
            kernel_profile.record_command(data, server.all_pids(), self.args.perf_frequency),
            lambda: os.path.exists(data) and os.path.getsize(data) > 0,
            lambda: self.wrk_keepalive(server))
        entry["sleeps_per_request"] = (servers.sleeps(server.serving_pids()) - slept) / \
            entry["requests"]
        return entry, kernel_profile.read_recording(data)

    def count_keepalive_calls(self, server):
        """The server's system calls while wrk runs keep-alive: {call name: calls
        per request}."""
        entry, output = self.counted_calls(server, lambda: self.wrk_keepalive(server),
                                           KEEPALIVE_CALLS, ())
        _, by_name, _ = syscall_counter.read_counts(output, KEEPALIVE_CALLS, ())
        return {name: count / entry["requests"] for name, count in by_name.items()}

    def wrk_keepalive(self, server):
        """wrk keep-alive for --perf-seconds, one round."""
        return self.wrk(server, "keepalive", self.args.perf_seconds, 1)

    def run_kernel(self):
        for server in self.servers_for(1):
            self.start(server)
            try:
                entry, places = self.profile_keepalive(server)
                calls = self.count_keepalive_calls(server)
            finally:
                self.stop(server)
            requests = entry["requests"]
            by_place = {place: ns / 1000 / requests for place, ns in places.items()}
            self.summary.setdefault("kernel", {})[server.name] = {
                "requests": requests, "us_per_request_by_place": by_place,
                "sampled_us_per_request": sum(by_place.values()),
                "calls_per_request": calls,
                "sleeps_per_request": entry["sleeps_per_request"],
                "user_us_per_request": entry["user_us_per_request"],
                "system_us_per_request": entry["system_us_per_request"]}
            print(f"  {server.name}: {sum(by_place.values()):.2f} µs sampled per keep-alive "
                  f"request, {by_place.get(kernel_profile.USER, 0):.2f} of it in user space; "
                  f"{calls.get('epoll_wait', 0):.3f} epoll_wait calls per request", flush=True)

    def callgrind_measure(self, factory, key, requests):
        """Instructions per keep-alive request of a fresh server under callgrind.

        ab -k -c1 warms it up with --callgrind-base requests, callgrind_control
        zeroes the counters, `requests` more requests run, and a dump takes
        what they cost: start-up and shutdown stay out.
        """
        server = self.made(factory())
        out = os.path.join(server.dir, "callgrind.out")
        server.wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        self.start(server)
        try:
            ab = ["ab", "-k", "-c", "1"]
            subprocess.run(ab + ["-n", str(self.args.callgrind_base), self.url(server)],
                           capture_output=True, timeout=120, check=True)
            callgrind_control(["-z"], server.proc.pid)
            subprocess.run(ab + ["-n", str(requests), self.url(server)],
                           capture_output=True, timeout=300, check=True)
            callgrind_control(["-d", "measured"], server.proc.pid)
            server.check_alive()
        finally:
            self.stop(server)
        dumps = [path for path in glob.glob(out + ".*") if path.rsplit(".", 1)[1].isdigit()]
        if len(dumps) != 1:
            raise RuntimeError(f"{key}: expected one callgrind dump, found {dumps}")
        per_request = callgrind_total(dumps[0]) / requests
        top = [{"function": name, "per_request": cost / requests}
               for name, cost in function_costs(dumps[0]).items() if cost / requests > 0.5]
        top.sort(key=lambda row: -row["per_request"])
        os.makedirs(self.args.out, exist_ok=True)
        kept = os.path.join(self.args.out, f"callgrind.{key.replace(':', '.')}.out")
        shutil.copyfile(dumps[0], kept)
        print(f"  callgrind {key}: {per_request:,.0f} instructions per keep-alive request",
              flush=True)
        return {"instructions_per_request": per_request, "requests": requests,
                "top_functions": top[:40], "profile": kept}

    def run_callgrind(self):
        """Every server and supported variant under callgrind, as many at once as
        there are CPUs: instruction counts do not depend on where a process runs
        or what runs beside it, so these servers are not pinned."""
        a = self.args
        jobs = [
            ("hellod", lambda: Hellod(a.hellod, 1), a.callgrind_requests),
            # One process: the same serving code as a worker, and one profile.
            ("nginx", lambda: Nginx(1, master_process=False), a.callgrind_requests),
            # Without its switch to nobody: see servers.H2o.
            ("h2o", lambda: H2o(1, stay_root=True), a.callgrind_requests),
        ]
        for variant in self.supported_variants():
            jobs.append((f"hellod:{variant.name}", lambda v=variant: v.hellod(a.hellod),
                         a.variant_callgrind_requests))
            if variant.with_nginx:
                jobs.append((f"nginx:{variant.name}",
                             lambda v=variant: v.nginx(master_process=False),
                             a.variant_callgrind_requests))
        self.notes.append("h2o runs under callgrind with `user: root`: valgrind's output file "
                          "and callgrind_control's FIFOs belong to the user it starts as, which "
                          "h2o's switch to nobody would leave it unable to use (servers.H2o)")
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(self.cpus))
        try:
            futures = [(key, pool.submit(self.callgrind_measure, factory, key, requests))
                       for key, factory, requests in jobs]
            results = {key: future.result() for key, future in futures}
        finally:
            # On an error or a signal, stop waiting: cleanup() then stops the
            # servers, which ends whatever clients the other jobs still run.
            pool.shutdown(wait=False, cancel_futures=True)
        self.summary["callgrind"] = {key: results[key] for key, _, _ in jobs}

    def summarize_variants(self):
        """summary["variants"]: each variant's figures and its ratios to the baseline."""
        if not self.variants:
            return
        table = {}
        for variant in self.variants:
            entry = {"label": variant.label, "targets": variant.targets,
                     "config_snippet": variant.snippet if len(variant.snippet) < 2000
                     else variant.snippet[:2000] + "...",
                     "exact_routes": variant.exact_routes}
            if variant.unsupported:
                entry["supported"] = False
                entry["reason"] = f"not supported by this build: {variant.unsupported}"
            else:
                entry["supported"] = True
                for server in ["hellod"] + (["nginx"] if variant.with_nginx else []):
                    entry[server] = self.variant_figures(server, f"{server}:{variant.name}")
                scrape = self.summary.get("metrics_scrapes", {}).get(variant.name)
                if scrape:
                    entry["metrics_scrape"] = scrape
                self.check_access_log(variant, entry)
            table[variant.name] = entry
        table["baseline"] = {"label": "baseline (1 response, metrics off, access log off)",
                             "hellod": self.variant_figures("hellod", "hellod", "hellod:copy",
                                                            side="baseline"),
                             "nginx": self.variant_figures("nginx", "nginx")}
        self.summary["variants"] = table

    def check_access_log(self, variant, entry):
        """An access-log variant must write more per request than the baseline."""
        if not variant.access_log:
            return
        written = entry["hellod"].get("keepalive.written_per_request")
        base = side_by_side.figures(self.pairs.get(f"hellod:{variant.name}", []), "keepalive",
                                    "baseline").get("keepalive.written_per_request")
        if written is None or base is None:
            return
        entry["access_log_bytes_per_request"] = written - base
        if written - base < 16:
            self.notes.append(f"{variant.name}: the access log is on but hellod wrote only "
                              f"{written - base:.1f} bytes per request more than the baseline")

    def variant_figures(self, baseline_key, key, pair_key=None, side="variant"):
        """A variant's side-by-side medians and its ratio to the baseline (the
        median of variant / baseline over its pairs), and its instructions.
        The baseline's own row takes the baseline side of the pairs against
        its copy, and their ratio: the method's noise."""
        figures = {}
        records = self.pairs.get(pair_key or key, [])
        for scenario in VARIANT_SCENARIOS:
            figures.update(side_by_side.figures(records, scenario, side))
        profile = self.summary.get("callgrind", {}).get(key)
        base_profile = self.summary.get("callgrind", {}).get(baseline_key)
        if profile:
            figures["instructions_per_request"] = profile["instructions_per_request"]
            if base_profile:
                figures["instructions_per_request_vs_baseline"] = (
                    profile["instructions_per_request"] / base_profile["instructions_per_request"])
        return figures

    # ---- the whole run --------------------------------------------------------

    def phase(self, name, message, action):
        print(message, flush=True)
        started = time.monotonic()
        action()
        self.phase_seconds[name] = round(time.monotonic() - started, 1)

    def run(self):
        a = self.args
        started = time.monotonic()
        # Other work on the machine moves req/s (not instructions, syscalls or
        # allocations): the load average says how much there was.
        self.load = {"start": os.getloadavg()}
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
        if self.variants:
            self.phase("variants", f"variants: hellod --check-config on {a.variants}",
                       self.check_variants)
        if "alloc" in phases:
            self.phase("alloc", "alloc: hellod_alloc_count", self.run_alloc)
        if "throughput" in phases:
            def throughput():
                for count in counts:
                    rounds = a.rounds if count == 1 else a.scaling_rounds
                    print(f"throughput, {count} worker(s), {rounds} round(s), "
                          f"placement {self.placement(count)}", flush=True)
                    self.run_throughput(count, rounds)
                self.summarize_throughput()
            self.phase("throughput", "throughput: wrk", throughput)
            if not a.quick:  # --quick keeps under a minute
                self.phase("peer_pairs", "throughput: hellod side by side with nginx, with h2o",
                           self.run_peer_pairs)
                self.phase("floor_pairs", "throughput: the floor side by side with nginx, "
                           "hellod with the floor", self.run_floor_pairs)
            if self.supported_variants():
                self.phase("variant_pairs", "variants: side by side with the baseline, wrk",
                           self.run_variant_pairs)
        if "memory" in phases:
            self.phase("memory", f"memory: {a.idle} idle keep-alive connections",
                       self.run_memory)
        if "syscalls" in phases:
            self.phase("syscalls", "syscalls: perf stat, syscall tracepoints", self.run_syscalls)
        if "kernel" in phases:
            self.phase("kernel", "kernel: perf record -g under keep-alive", self.run_kernel)
        if "callgrind" in phases:
            self.phase("callgrind", "callgrind: valgrind --tool=callgrind (slow)",
                       self.run_callgrind)
        self.summarize_variants()
        self.load["end"] = os.getloadavg()
        self.elapsed = time.monotonic() - started

    def write(self):
        a = self.args
        load = max(self.load["start"][0], self.load["end"][0])
        caption = (f"{time.strftime('%Y-%m-%d %H:%M')}, {len(self.cpus)} CPUs "
                   f"(load average up to {load:.1f}), {a.rounds} rounds x {a.duration}s, "
                   f"wrk -c{a.connections}")
        table = report.format_table(self.summary)
        variant_table = report.format_variant_table(self.summary)
        kernel_table = report.format_kernel_table(self.summary)
        print()
        print(table)
        for extra in (variant_table, kernel_table):
            if extra:
                print()
                print(extra)
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
                    "phase_seconds": self.phase_seconds, "versions": versions(a.hellod),
                    "load_average": self.load,
                    "summary": self.summary, "runs": self.runs,
                    "side_by_side_runs": self.pairs, "notes": self.notes,
                    "table": table.splitlines(), "variant_table": variant_table.splitlines(),
                    "kernel_table": kernel_table.splitlines()}
        report.write_json(os.path.join(a.out, "latest.json"), document)
        report.write_svg(os.path.join(a.out, "latest.svg"), self.summary, caption)
        print(f"\nwrote {a.out}/latest.json and latest.svg in {self.elapsed:.0f}s "
              f"(phases: {self.phase_seconds})")


def read_text(path):
    with open(path) as f:
        return f.read()


def versions(hellod):
    """Each server's version line, for the record."""
    found = {}
    for name, cmd in (("hellod", [hellod, "--version"]), ("nginx", ["nginx", "-v"]),
                      ("h2o", ["h2o", "--version"])):
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            found[name] = (result.stdout + result.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired) as error:
            found[name] = f"unknown ({error})"
    return found


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def function_costs(path):
    """Self instructions per function ("name [object]") from a callgrind file.

    Read directly rather than through callgrind_annotate, which counts the
    calls still in progress at a dump (the worker thread's entry, the loop)
    as their callers' own cost. Every cost line is a function's self cost
    except the one after "calls=", which is what that call cost inclusively.
    """
    names = {"fn": {}, "ob": {}}
    costs = {}
    current, current_object, after_call = None, "", False
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            kind = {"fn": "fn", "cfn": "fn", "ob": "ob", "cob": "ob"}.get(key)
            if kind and value:
                name = _compressed_name(names[kind], value)
                if key == "ob":
                    current_object = os.path.basename(name)
                elif key == "fn":
                    current = f"{name} [{current_object}]"
            elif key == "calls":
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                fields = line.split()
                if after_call:
                    after_call = False
                elif current and len(fields) >= 2:
                    costs[current] = costs.get(current, 0) + int(fields[1])
    return costs


def _compressed_name(table, value):
    """callgrind's name compression: "(id) name" defines id, "(id)" refers to it."""
    match = re.match(r"\((\d+)\)(?: (.*))?$", value)
    if not match:
        return value
    if match.group(2) is not None:
        table[match.group(1)] = match.group(2)
    return table.get(match.group(1), value)


def callgrind_control(options, pid):
    """Sends a command to a process running under callgrind (through vgdb)."""
    subprocess.run(["callgrind_control"] + options + [str(pid)], capture_output=True,
                   timeout=30, check=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hellod", required=True, help="hellod binary")
    parser.add_argument("--alloc-count", required=True, help="hellod_alloc_count binary")
    parser.add_argument("--floor", required=True,
                        help="hellod_bench_floor binary (bench/floor_server.cpp)")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 1 s, no warm-up, 1 worker, fewer requests: a "
                        "development check")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with 1 worker")
    parser.add_argument("--scaling-rounds", type=int, default=1,
                        help="rounds for worker counts above 1")
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--side-by-side", type=int, default=3,
                        help="side-by-side pairs of runs per variant (or peer) and scenario")
    parser.add_argument("--warmup", type=int, default=1,
                        help="seconds of unrecorded keep-alive load per server first (0: none)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--depth", type=int, default=16, help="pipelined requests per write")
    parser.add_argument("--workers", default="1,2,auto")
    parser.add_argument("--variants", default=os.path.join(BENCH_DIR, "variants.yaml"),
                        help="hellod configuration variants (YAML; 'none' for none)")
    parser.add_argument("--idle", type=int, default=10000, help="idle connections for memory")
    parser.add_argument("--syscall-requests", type=int, default=10000)
    parser.add_argument("--syscall-connections", type=int, default=5000)
    parser.add_argument("--syscall-concurrency", type=int, default=8)
    parser.add_argument("--perf-seconds", type=int, default=3,
                        help="seconds of keep-alive load per server under perf record")
    parser.add_argument("--perf-frequency", type=int, default=4000)
    parser.add_argument("--callgrind-requests", type=int, default=5000)
    parser.add_argument("--variant-callgrind-requests", type=int, default=5000)
    parser.add_argument("--callgrind-base", type=int, default=300)
    parser.add_argument("--alloc-requests", type=int, default=100000)
    parser.add_argument("--alloc-connections", type=int, default=10000)
    parser.add_argument("--start-timeout", type=float, default=60)
    parser.add_argument("--phases",
                        default="alloc,throughput,variants,memory,syscalls,kernel,callgrind")
    parser.add_argument("--out", default=os.path.join(BENCH_DIR, "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.workers = 1, 1, 0, "1"
        args.side_by_side = min(args.side_by_side, 1)
        args.idle = min(args.idle, 2000)
        args.syscall_requests = min(args.syscall_requests, 4000)
        args.syscall_connections = min(args.syscall_connections, 1000)
        args.perf_seconds = min(args.perf_seconds, 1)
        args.callgrind_base = min(args.callgrind_base, 200)
        args.callgrind_requests = min(args.callgrind_requests, 2000)
        args.variant_callgrind_requests = min(args.variant_callgrind_requests, 2000)
        args.alloc_requests = min(args.alloc_requests, 20000)
        args.alloc_connections = min(args.alloc_connections, 2000)
        args.perf_seconds = 1
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
