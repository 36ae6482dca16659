// SPDX-License-Identifier: MIT
#include "access_logger.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "thread_name.hpp"

namespace hellod {
namespace {

// A batch is written once it is this large, so a burst costs few syscalls
// and bounded memory.
constexpr std::size_t kBatchBytes = std::size_t{64} * 1024;

// While hellod serves, a stalled sink (the stream or the journal) only
// holds this thread, which looks up this often to see whether hellod is
// stopping; once it is, a sink that takes nothing for this long loses what
// is left, so a stalled reader cannot hold up the exit.
constexpr std::chrono::milliseconds kStallCheck{500};

}  // namespace

AccessLogger::AccessLogger(unsigned workers, Options options)
    : workers_(workers), options_(options), stream_(options.fd) {}

AccessLogger::~AccessLogger() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  doorbell_.wake();
  thread_.join();
}

AccessLogQueue* AccessLogger::queue(unsigned worker) {
  if (queues_.empty()) start();
  return queues_.at(worker).get();
}

void AccessLogger::start() {
  for (unsigned i = 0; i < workers_; ++i)
    queues_.push_back(std::make_unique<AccessLogQueue>(options_.queue_capacity, &doorbell_));
  batch_.reserve(kBatchBytes * 2);
  // The thread sees the queues: they are complete before it starts.
  thread_ = std::thread([this] { run(); });
  name_thread(thread_, "hellod-logger");
}

void AccessLogger::flush() {
  if (!thread_.joinable()) return;
  std::unique_lock lock(mutex_);
  const std::uint64_t wanted = ++flush_requests_;
  doorbell_.wake();
  flushed_.wait(lock, [&] { return flushes_done_ >= wanted; });
}

void AccessLogger::run() {
  // None yet: the thread sleeps from the start, so a hellod whose access
  // log is off never wakes up for it.
  std::optional<std::chrono::steady_clock::time_point> last_record;
  for (;;) {
    std::uint64_t flush_request = 0;
    bool stopping = false;
    {
      std::lock_guard lock(mutex_);
      flush_request = flush_requests_;
      stopping = stopping_;
    }
    const std::size_t written = drain_all();
    const auto now = std::chrono::steady_clock::now();
    warn_about_drops(now);
    {
      std::lock_guard lock(mutex_);
      flushes_done_ = flush_request;
      flushed_.notify_all();
      if (stopping) return;  // drained after stopping_ was seen: nothing is left
    }
    // While records flow the thread drains back to back.
    if (written != 0) {
      last_record = now;
    } else {
      wait_for_records(last_record);
    }
  }
}

// Polls for a while after the last record, since a worker's next one
// usually follows soon; then sleeps until one rings the doorbell (or a stop
// or a flush wakes it), so an idle or access-log-less hellod costs nothing.
void AccessLogger::wait_for_records(
    std::optional<std::chrono::steady_clock::time_point> last_record) {
  if (last_record && std::chrono::steady_clock::now() - *last_record < options_.sleep_after) {
    doorbell_.wait_for(options_.idle_poll);
  } else {
    doorbell_.sleep([this] { return queues_empty(); });
  }
}

bool AccessLogger::queues_empty() const {
  return std::all_of(queues_.begin(), queues_.end(),
                     [](const auto& queue) { return queue->empty(); });
}

std::size_t AccessLogger::drain_all() {
  std::size_t total = 0;
  for (const auto& queue : queues_) {
    total += queue->drain([this](const AccessRecord& record) { write_record(record); });
  }
  write_out();
  return total;
}

void AccessLogger::write_record(const AccessRecord& record) {
  if (options_.sink == Sink::journal) {
    send_to_journal(record);
    return;
  }
  if (record.format == AccessLogFormat::json) {
    append_json_line(batch_, record);
  } else {
    append_text_line(batch_, record);
  }
  if (batch_.size() >= kBatchBytes) write_out();
}

// Both destinations are waited for however slowly they take records: only
// this thread waits, and the workers' queues absorb (or drop) meanwhile.
// Once hellod is stopping, a stalled destination loses this record or batch
// and every later one (the workers have stopped: nothing new comes).
bool AccessLogger::keep_waiting() {
  std::lock_guard lock(mutex_);
  abandoned_ = stopping_;
  return !abandoned_;
}

void AccessLogger::send_to_journal(const AccessRecord& record) {
  entry_.clear();
  for (const std::string& field : journal_fields(record)) append_journal_field(entry_, field);
  while (!abandoned_) {
    if (journal_.send(entry_, kStallCheck) != JournalWriter::Outcome::stalled) return;
    if (!keep_waiting()) return;
  }
}

void AccessLogger::write_out() {
  std::string_view rest(batch_);
  while (!rest.empty() && !abandoned_) {
    const StreamWriter::Progress progress = stream_.write(rest, kStallCheck);
    rest.remove_prefix(progress.bytes);
    if (!progress.stalled) break;  // written, or a closed stream: lost either way
    if (!keep_waiting()) break;
  }
  batch_.clear();
}

void AccessLogger::warn_about_drops(std::chrono::steady_clock::time_point now) {
  if (now - last_warning_ < options_.drop_warning_interval) return;
  std::uint64_t dropped = 0;
  for (const auto& queue : queues_) dropped += queue->dropped();
  if (dropped == drops_reported_) return;
  spdlog::warn(
      "access log: {} record(s) dropped because the log could not keep up (counted in "
      "hellod_access_log_dropped_total); at most one such warning every {} s",
      dropped - drops_reported_, options_.drop_warning_interval.count() / 1000);
  drops_reported_ = dropped;
  last_warning_ = now;
}

}  // namespace hellod
