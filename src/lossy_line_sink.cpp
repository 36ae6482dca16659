// SPDX-License-Identifier: MIT
#include "lossy_line_sink.hpp"

#include <fmt/format.h>

#include <atomic>

namespace hellod {
namespace {

// Relaxed: a count for the metrics, ordered with nothing else.
std::atomic<std::uint64_t> lines_dropped{0};  // NOLINT: one count for the process

}  // namespace

std::uint64_t LossyLineSink::dropped_total() {
  return lines_dropped.load(std::memory_order_relaxed);
}

void LossyLineSink::sink_it_(const spdlog::details::log_msg& message) {
  if ((dropped_ != 0 && !report_dropped_lines()) || !write_line(message)) {
    ++dropped_;
    lines_dropped.fetch_add(1, std::memory_order_relaxed);
  }
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
