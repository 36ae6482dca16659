// SPDX-License-Identifier: MIT
#pragma once

#include "lossy_line_sink.hpp"
#include "stream_writer.hpp"

namespace hellod {

// hellod's own lines on stderr, a stream that may stall (stream_writer.hpp).
class StderrSink final : public LossyLineSink {
 public:
  StderrSink();

 private:
  bool write_line(const spdlog::details::log_msg& message) override;

  StreamWriter writer_;
  bool mid_line_ = false;  // a line was cut short: the next one starts afresh
};

}  // namespace hellod
