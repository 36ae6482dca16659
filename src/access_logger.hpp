// SPDX-License-Identifier: MIT
#pragma once

// The access log's consumer: one thread that drains every worker's queue
// and writes the records to the sink (a stream such as stderr, one write per
// batch, or the journal with structured fields, an entry per record). A
// slow sink slows only this thread; workers drop what does not fit their
// queue and a warning says so, at most once per interval.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "access_log_queue.hpp"
#include "doorbell.hpp"
#include "journal_writer.hpp"
#include "stream_writer.hpp"

namespace hellod {

class AccessLogger {
 public:
  enum class Sink : unsigned char { stream, journal };

  struct Options {
    Sink sink = Sink::stream;
    int fd = 2;  // the stream: stderr
    std::size_t queue_capacity = AccessLogQueue::kDefaultCapacity;
    // Idle, the thread looks at the queues this often (workers do not
    // signal it: that would cost them a system call per record), and after
    // sleep_after without a record, or before its first, it sleeps until a
    // worker's next record rings its doorbell: an idle hellod does not wake
    // up for its log.
    std::chrono::milliseconds idle_poll{10};
    std::chrono::milliseconds sleep_after{1'000};
    std::chrono::milliseconds drop_warning_interval{10'000};
  };

  AccessLogger(unsigned workers, Options options);
  AccessLogger(const AccessLogger&) = delete;
  AccessLogger& operator=(const AccessLogger&) = delete;
  // Writes what is still queued, then stops the thread; a sink that
  // stalls meanwhile loses the rest (keep_waiting).
  ~AccessLogger();

  // Worker i's queue. The queues and the thread are created at the first
  // call, on the caller's thread; hand the pointer to the worker before it
  // starts, or through Worker::post, so it is published safely.
  AccessLogQueue* queue(unsigned worker);

  // Test hook: waits until everything queued before the call is written.
  void flush();

 private:
  void start();
  void run();
  void wait_for_records(std::optional<std::chrono::steady_clock::time_point> last_record);
  [[nodiscard]] bool queues_empty() const;
  std::size_t drain_all();
  void write_record(const AccessRecord& record);
  void send_to_journal(const AccessRecord& record);
  void write_out();
  bool keep_waiting();
  void warn_about_drops(std::chrono::steady_clock::time_point now);

  unsigned workers_;
  Options options_;
  std::vector<std::unique_ptr<AccessLogQueue>> queues_;
  StreamWriter stream_;     // Sink::stream's
  JournalWriter journal_;   // Sink::journal's: logger thread only
  std::string batch_;       // logger thread only
  std::string entry_;       // logger thread only: the journal entry being sent
  bool abandoned_ = false;  // logger thread only: stopping, the sink stalled
  std::uint64_t drops_reported_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
  Doorbell doorbell_;  // rung by the queues, stop and flush
  std::mutex mutex_;
  std::condition_variable flushed_;
  bool stopping_ = false;             // guarded by mutex_
  std::uint64_t flush_requests_ = 0;  // guarded by mutex_
  std::uint64_t flushes_done_ = 0;    // guarded by mutex_
  std::thread thread_;
};

}  // namespace hellod
