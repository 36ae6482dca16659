#!/usr/bin/env bash
# Installs what is missing, builds hellod with its tests and runs the whole
# suite: unit and integration tests (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

cmake -S . -B build/test -DHELLOD_WERROR=ON -DHELLOD_TEST_HOOKS=ON
cmake --build build/test -j"$(nproc)"
ctest --test-dir build/test --output-on-failure -LE e2e

# e2e: the .deb installed and driven in a booted Debian 12 (systemd-nspawn);
# needs root (skipped otherwise) and caches its root filesystem in build/test/e2e.
scripts/install-deps.sh e2e
ctest --test-dir build/test --output-on-failure -L e2e
