// SPDX-License-Identifier: MIT
#include "lossy_line_sink.hpp"

#include <fmt/format.h>

namespace hellod {

void LossyLineSink::sink_it_(const spdlog::details::log_msg& message) {
  if (dropped_ != 0 && !report_dropped_lines()) {
    ++dropped_;
    return;
  }
  if (!write_line(message)) ++dropped_;
}

// Written before the next line; a destination still stalled drops that
// line too.
bool LossyLineSink::report_dropped_lines() {
  const std::string text =
      fmt::format("{} log line(s) dropped because {} was not taking them", dropped_, destination_);
  const spdlog::details::log_msg notice("hellod", spdlog::level::warn, text);
  if (!write_line(notice)) return false;
  dropped_ = 0;
  return true;
}

}  // namespace hellod
