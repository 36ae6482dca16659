// SPDX-License-Identifier: MIT
#include "stderr_sink.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <string>

namespace hellod {

StderrSink::StderrSink() : writer_(STDERR_FILENO) {}

void StderrSink::sink_it_(const spdlog::details::log_msg& message) {
  if (dropped_ != 0 && !report_dropped_lines()) {
    ++dropped_;
    return;
  }
  if (!write_line(message)) ++dropped_;
}

// Written before the next line; a stream still stalled drops that line too.
bool StderrSink::report_dropped_lines() {
  const std::string text =
      fmt::format("{} log line(s) dropped because stderr was not taking them", dropped_);
  const spdlog::details::log_msg notice("hellod", spdlog::level::warn, text);
  if (!write_line(notice)) return false;
  dropped_ = 0;
  return true;
}

bool StderrSink::write_line(const spdlog::details::log_msg& message) {
  spdlog::memory_buf_t line;
  if (mid_line_) line.push_back('\n');
  formatter_->format(message, line);
  const std::string_view text(line.data(), line.size());
  const std::size_t taken = writer_.write(text, kPatience).bytes;
  // A line the stream took part of leaves the next to start a new one;
  // one it took none of leaves the stream as it was.
  if (taken != 0) mid_line_ = taken < text.size();
  return taken == text.size();
}

}  // namespace hellod
