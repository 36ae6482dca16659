// SPDX-License-Identifier: MIT
#pragma once

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdint>
#include <mutex>

#include "stream_writer.hpp"

namespace hellod {

// spdlog's sink for hellod's own lines on stderr. Whoever logs (the
// supervisor's loop, which reloads and stops hellod; a worker) must not wait
// for a stream that has stopped taking lines: when the stream takes nothing
// of a line for kPatience, the line is dropped. Once the stream takes lines
// again, a warning first says how many were lost. The access log, with a
// thread and queues of its own, waits for the stream instead
// (access_logger.hpp).
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::chrono::milliseconds kPatience{100};

  StderrSink();

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override {}  // every line is written at once

 private:
  bool write_line(const spdlog::details::log_msg& message);
  bool report_dropped_lines();

  StreamWriter writer_;
  std::uint64_t dropped_ = 0;
  bool mid_line_ = false;  // a line was cut short: the next one starts afresh
};

}  // namespace hellod
