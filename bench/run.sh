#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hellod vs nginx on loopback, one command (issue 5):
#   bench/run.sh            full run (3 rounds x 5 s per wrk run; about 3 minutes once built)
#   bench/run.sh --quick    development check (1 round x 2 s; under a minute once built)
# Any other options go to bench/bench.py (see bench/bench.py --help), e.g.
#   bench/run.sh --rounds 5 --duration 10 --workers 1,2,auto
#   bench/run.sh --phases callgrind,syscalls
# Installs wrk, nginx-light, valgrind, strace, apache2-utils and python3 when
# missing, builds hellod (Release, HELLOD_BENCH=ON) in build-bench/, prints
# one table and writes bench/results/latest.json and latest.svg.
# Every run is bounded in time; the trap stops whatever is still running.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh bench

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DHELLOD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" --target hellod hellod_alloc_count

bench_pid=""
cleanup() {
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

# The whole run is bounded too: 20 minutes is twice the longest default run.
timeout --signal=TERM --kill-after=30 1200 \
  python3 bench/bench.py --hellod build-bench/src/hellod \
  --alloc-count build-bench/bench/hellod_alloc_count "$@" &
bench_pid=$!
wait "$bench_pid"
