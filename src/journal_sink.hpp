// SPDX-License-Identifier: MIT
#pragma once

#include <string>

#include "journal_writer.hpp"
#include "lossy_line_sink.hpp"

namespace hellod {

// hellod's own lines in the journal, each an entry with MESSAGE, PRIORITY
// (the line's level) and SYSLOG_IDENTIFIER=hellod; journald adds the time,
// the process and the unit.
class JournalSink final : public LossyLineSink {
 public:
  explicit JournalSink(std::string socket_path = JournalWriter::kSocketPath);

 private:
  bool write_line(const spdlog::details::log_msg& message) override;

  JournalWriter writer_;
  std::string entry_;  // reused from line to line
};

}  // namespace hellod
