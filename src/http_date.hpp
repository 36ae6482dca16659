// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <ctime>
#include <string_view>

namespace hellod {

// An IMF-fixdate (RFC 9110 §5.6.7) is always exactly this long:
// "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t kHttpDateLength = 29;

using HttpDate = std::array<char, kHttpDateLength>;

// Formats a time as IMF-fixdate without locale or allocation, so a worker's
// once-a-second timer can refresh its Date bytes cheaply.
HttpDate format_http_date(std::time_t when);

// The Date header's value for now.
inline HttpDate current_http_date() {
  return format_http_date(std::time(nullptr));
}

inline std::string_view to_view(const HttpDate& date) {
  return {date.data(), date.size()};
}

}  // namespace hellod
