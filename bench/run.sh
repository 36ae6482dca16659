#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hellod vs nginx and h2o on loopback, one command (issues 5 and 13):
#   bench/run.sh            full run (under 5 minutes once built)
#   bench/run.sh --quick    development check (under a minute once built)
# Any other options go to bench/bench.py (see bench/bench.py --help), e.g.
#   bench/run.sh --rounds 5 --duration 10 --workers 1,2,auto
#   bench/run.sh --phases callgrind,syscalls
# Installs wrk, nginx-light, h2o, valgrind, apache2-utils, linux-perf, python3 and
# python3-yaml when missing, builds hellod (the package's flags, link-time
# optimization, HELLOD_BENCH=ON) in build-bench/, prints the tables and
# writes bench/results/latest.json and latest.svg.
# Every run is bounded in time; the trap stops whatever is still running.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh bench

# The package's flags (packaging/debian/buildflags.mk through dpkg-buildflags,
# CPPFLAGS joined to the compile flags as debhelper's cmake build does), so
# the benchmark measures the binary operators install.
eval "$(make -s --no-print-directory -f packaging/debian/buildflags.mk -f - <<'MAKE'
export-flags: ; @dpkg-buildflags --export=sh
MAKE
)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=None -DBUILD_TESTING=OFF -DHELLOD_BENCH=ON \
  -DHELLOD_LTO=ON -DCMAKE_C_FLAGS="$CFLAGS $CPPFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS $CPPFLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" >/dev/null
cmake --build build-bench -j"$(nproc)" --target hellod hellod_alloc_count hellod_bench_floor

bench_pid=""
cleanup() {
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

# The whole run is bounded too: 10 minutes is twice the longest default run.
# Debian's python3, which install-deps.sh gave python3-yaml.
timeout --signal=TERM --kill-after=30 600 \
  /usr/bin/python3 bench/bench.py --hellod build-bench/src/hellod \
  --alloc-count build-bench/bench/hellod_alloc_count \
  --floor build-bench/bench/hellod_bench_floor "$@" &
bench_pid=$!
wait "$bench_pid"
