// SPDX-License-Identifier: MIT
#pragma once

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace hellod {

// spdlog's sink base for hellod's own lines on a destination that another
// process drains (stderr, the journal). Whoever logs (the supervisor's
// loop, which reloads and stops hellod; a worker) must not wait for a
// destination that has stopped taking lines: a line it takes nothing of for
// kPatience is dropped. Once it takes lines again, a warning first says how
// many were lost. The access log, with a thread and queues of its own, waits
// for its destination instead (access_logger.hpp).
class LossyLineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::chrono::milliseconds kPatience{100};

  // Lines every such sink dropped since hellod started
  // (hellod_log_lines_dropped_total); any thread may read it.
  static std::uint64_t dropped_total();

 protected:
  // destination: how the warning names it ("stderr", "the journal").
  explicit LossyLineSink(std::string_view destination) : destination_(destination) {}

  // Writes one line, waiting at most kPatience for the destination to take
  // some of it; false unless it took the line whole.
  virtual bool write_line(const spdlog::details::log_msg& message) = 0;

 private:
  void sink_it_(const spdlog::details::log_msg& message) final;
  void flush_() final {}  // every line is written at once
  bool report_dropped_lines();

  std::string destination_;
  std::uint64_t dropped_ = 0;
};

}  // namespace hellod
