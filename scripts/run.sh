#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds hellod and runs it in the foreground.
# Without /etc/hellod.yaml it serves its embedded default on 0.0.0.0:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build build/release -j"$(nproc)"
exec build/release/src/hellod "$@"
