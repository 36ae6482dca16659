#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what building and testing hellod needs, from Debian 12's archive.
# Usage: scripts/install-deps.sh [build|test|package|e2e|bench]   (each a superset of build;
# package: the Debian packaging tools; e2e: package plus the booted-container test's tools)
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libuv1-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libsystemd-dev libcli11-dev node-llhttp
  prometheus-cpp-dev
)
TEST_PACKAGES=(
  libgtest-dev googletest python3 curl systemd strace
  clang libclang-rt-14-dev clang-format clang-tidy
  prometheus python3-prometheus-client
)
PACKAGE_PACKAGES=(
  debhelper dpkg-dev lintian
)
E2E_PACKAGES=(
  debootstrap systemd-container python3
)
BENCH_PACKAGES=(
  wrk nginx-light h2o valgrind apache2-utils python3 python3-yaml util-linux linux-perf
)

want=("${BUILD_PACKAGES[@]}")
if [[ "${1:-build}" == test ]]; then
  want+=("${TEST_PACKAGES[@]}")
fi
if [[ "${1:-build}" == package || "${1:-build}" == e2e ]]; then
  want+=("${PACKAGE_PACKAGES[@]}")
fi
if [[ "${1:-build}" == e2e ]]; then
  want+=("${E2E_PACKAGES[@]}")
fi
if [[ "${1:-build}" == bench ]]; then
  want+=("${BENCH_PACKAGES[@]}")
fi

missing=()
for package in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
