#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds hellod with its tests and runs the whole
# suite: clang-format and clang-tidy, unit and integration tests (CTest), the
# same under ASan+UBSan and (multi-worker ones) TSan, the fuzzers, then the
# e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

cmake -S . -B build/test -DHELLOD_WERROR=ON -DHELLOD_TEST_HOOKS=ON
cmake --build build/test -j"$(nproc)"
scripts/lint.sh build/test
# Tests run two at a time (one per core): the integration tests spend most of
# their time waiting on hellod (timeouts, reloads, drains), so this halves
# the stage's wall time; each test uses its own ports and files.
ctest --test-dir build/test --output-on-failure -LE e2e -j"$(nproc)"

# Sanitizers. Reports from hellod children of the integration tests go to
# files (log_path), which the harness turns into test failures; any file left
# there at the end (e.g. from a --check-config run) fails the stage too.
sanitizer_env() {  # $1: report directory
  rm -rf "$1" && mkdir -p "$1"
  export HELLOD_SANITIZER_REPORTS="$1"
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=66:log_path=$1/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=66:log_path=$1/ubsan"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:exitcode=66:log_path=$1/tsan"
}
no_sanitizer_reports() {  # $1: report directory
  if compgen -G "$1/*" >/dev/null; then
    echo "sanitizer reports in $1:" >&2
    cat "$1"/* >&2
    return 1
  fi
}
sanitized_suite() (  # $1: build dir, $2: HELLOD_SANITIZE, then one ctest selection per argument
  build=$1 sanitize=$2
  shift 2
  cmake -S . -B "$build" -DHELLOD_WERROR=ON -DHELLOD_TEST_HOOKS=ON -DHELLOD_SANITIZE="$sanitize"
  cmake --build "$build" -j"$(nproc)"
  sanitizer_env "$PWD/$build/sanitizer-reports"
  status=0
  for selection in "$@"; do
    # shellcheck disable=SC2086  # a selection is several ctest arguments
    ctest --test-dir "$build" --output-on-failure -j"$(nproc)" $selection || status=1
  done
  no_sanitizer_reports "$HELLOD_SANITIZER_REPORTS" || status=1
  return $status
)
# ASan+UBSan: every unit and integration test.
sanitized_suite build/asan address,undefined "-LE e2e|fuzz"
# TSan: the unit tests and every integration test that runs several workers.
multiworker=$(grep -lE 'workers: *([2-9]|[1-9][0-9]+|auto)\b' tests/integration/test_*.py |
                xargs -n1 basename | sed 's/\.py$//' | paste -sd'|')
sanitized_suite build/tsan thread "-L unit" "-R ^integration\.(${multiworker})$"

# Fuzzing: clang's libFuzzer on the request path and the config loader; each
# target replays its corpus, then fuzzes for HELLOD_FUZZ_SECONDS (60 s).
CC=clang CXX=clang++ cmake -S . -B build/fuzz -DHELLOD_FUZZ=ON -DBUILD_TESTING=OFF -DHELLOD_WERROR=ON
cmake --build build/fuzz -j"$(nproc)"
ctest --test-dir build/fuzz/tests/fuzz --output-on-failure -L fuzz -j"$(nproc)"

# e2e: the .deb installed and driven in a booted Debian 12 (systemd-nspawn);
# needs root (skipped otherwise) and caches its root filesystem in build/test/e2e.
scripts/install-deps.sh e2e
ctest --test-dir build/test --output-on-failure --verbose -L e2e
