// SPDX-License-Identifier: MIT
#include "journal_sink.hpp"

#include <fmt/format.h>
#include <syslog.h>

#include <utility>

namespace hellod {
namespace {

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

}  // namespace

JournalSink::JournalSink(std::string socket_path)
    : LossyLineSink("the journal"), writer_(std::move(socket_path)) {}

bool JournalSink::write_line(const spdlog::details::log_msg& message) {
  spdlog::memory_buf_t text;
  formatter_->format(message, text);
  std::string_view line(text.data(), text.size());
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);  // the pattern's end
  entry_.clear();
  append_journal_field(entry_, fmt::format("MESSAGE={}", line));
  append_journal_field(entry_, fmt::format("PRIORITY={}", syslog_priority(message.level)));
  append_journal_field(entry_, "SYSLOG_IDENTIFIER=hellod");
  return writer_.send(entry_, kPatience) == JournalWriter::Outcome::sent;
}

}  // namespace hellod
