// SPDX-License-Identifier: MIT
#pragma once

#include <time.h>  // NOLINT(modernize-deprecated-headers): clock_gettime is POSIX, not <ctime>

#include <cstdint>

namespace hellod {

// Nanoseconds on the monotonic clock (uv_hrtime()'s clock). Called inline
// rather than through uv_hrtime(): two reads per request time each response,
// and libuv's out-of-line wrapper cost more than the vDSO read it makes.
inline std::uint64_t monotonic_ns() {
  timespec now{};
  static_cast<void>(::clock_gettime(CLOCK_MONOTONIC, &now));  // cannot fail for this clock
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000U +
         static_cast<std::uint64_t>(now.tv_nsec);
}

// Milliseconds on the monotonic clock, for intervals that must not jump
// with the wall clock (watchdog, shutdown, log rate limits).
inline std::uint64_t monotonic_ms() {
  return monotonic_ns() / 1'000'000;
}

}  // namespace hellod
