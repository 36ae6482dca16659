// SPDX-License-Identifier: MIT
#include "log.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "journal_sink.hpp"
#include "stderr_sink.hpp"

namespace hellod {
namespace {

// The journal stamps every entry itself; on stderr we add the time.
constexpr const char* kStderrPattern = "%Y-%m-%d %H:%M:%S.%e hellod[%P] %l: %v";
constexpr const char* kJournalPattern = "%v";

bool to_journal = false;  // NOLINT: set once at start, before any other thread runs

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return spdlog::level::trace;
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
    case LogLevel::critical:
      return spdlog::level::critical;
    case LogLevel::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

spdlog::sink_ptr make_sink(bool journal) {
  if (journal) {
    auto sink = std::make_shared<JournalSink>();
    sink->set_pattern(kJournalPattern);
    return sink;
  }
  auto sink = std::make_shared<StderrSink>();
  sink->set_pattern(kStderrPattern);
  return sink;
}

void install(const spdlog::sink_ptr& sink, spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("hellod", sink);
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

}  // namespace

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat info {};
  if (fstat(STDERR_FILENO, &info) < 0) return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  return device == info.st_dev && inode == info.st_ino;
}

void init_logging() {
  install(make_sink(false), spdlog::level::info);
}

void configure_logging(const LogConfig& config) {
  const bool journal = config.target == LogTarget::journal ||
                       (config.target == LogTarget::automatic && stderr_is_journal());
  to_journal = journal;
  install(make_sink(journal), to_spdlog(config.level));
}

bool logging_to_journal() {
  return to_journal;
}

void apply_log_level(LogLevel level) {
  spdlog::set_level(to_spdlog(level));
}

void die_out_of_memory(std::string_view where) {
  // spdlog formats into a stack buffer for a message this short.
  spdlog::critical("out of memory while {}: aborting", where);
  std::abort();
}

}  // namespace hellod
