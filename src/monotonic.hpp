// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <cstdint>

namespace hellod {

// Milliseconds on the monotonic clock, for intervals that must not jump
// with the wall clock (watchdog, shutdown, log rate limits).
inline std::uint64_t monotonic_ms() {
  return uv_hrtime() / 1'000'000;
}

}  // namespace hellod
