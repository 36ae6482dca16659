// SPDX-License-Identifier: MIT
#include "stderr_sink.hpp"

#include <unistd.h>

namespace hellod {

StderrSink::StderrSink() : LossyLineSink("stderr"), writer_(STDERR_FILENO) {}

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
