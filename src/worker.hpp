#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config.hpp"
#include "connection.hpp"
#include "deadline_list.hpp"
#include "listeners.hpp"
#include "metrics.hpp"
#include "request_parser.hpp"
#include "response.hpp"
#include "result.hpp"

namespace hellod {

// An immutable configuration as workers serve it: built and validated on the
// main thread, shared by every worker, swapped between requests on reload.
struct Snapshot {
  Config config;
  ResponseSet responses;
  RequestLimits request_limits;
  // limits.max_connections, or fewer when the open-file limit has no room
  // for that many: past it clients wait in the kernel backlog.
  std::uint32_t connection_limit;

  explicit Snapshot(Config validated,
                    std::uint32_t descriptor_budget = std::numeric_limits<std::uint32_t>::max());
};

// Per-worker counters, written by the worker only and read by the
// supervisor for STATUS= and logs.
struct WorkerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint32_t> open{0};
};

class Listener;
class AccessLogQueue;

// One thread, one uv loop, its own listeners and connections. Workers share
// nothing mutable: the supervisor talks to a worker only through post().
class Worker {
 public:
  // worker_count splits limits.max_connections between the workers.
  Worker(unsigned index, unsigned worker_count, std::shared_ptr<const Snapshot> snapshot);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  // Sets up the loop and starts listening on the sockets (whose ownership
  // moves to the worker), then runs the loop on a new thread.
  // on_finished runs on the worker's thread once its loop has ended.
  Status start(std::vector<ListenSocket> sockets, std::function<void()> on_finished);
  void join();

  // Thread-safe: runs task on the worker's thread between callbacks.
  void post(std::function<void(Worker&)> task);

  // The commands the supervisor posts.
  void use_snapshot(std::shared_ptr<const Snapshot> snapshot);
  void add_listeners(std::vector<ListenSocket> sockets);
  void remove_listeners(const std::vector<std::string>& names);
  void drain();
  void force_close();
  // Metrics wiring: the block to count into from now on (the old one is
  // retired, see MetricsRegistry), and this worker's access-log queue.
  void use_metrics(std::shared_ptr<WorkerMetrics> metrics);
  void use_access_log(AccessLogQueue* queue) { access_log_ = queue; }

  [[nodiscard]] unsigned index() const { return index_; }
  [[nodiscard]] const WorkerCounters& counters() const { return counters_; }
  // Monotonic milliseconds when the loop last ran a posted task: the
  // watchdog's proof that this loop still turns.
  [[nodiscard]] std::uint64_t last_heartbeat_ms() const { return heartbeat_ms_.load(); }
  void heartbeat();

  // Used by connections, on the worker thread only.
  [[nodiscard]] uv_loop_t* loop() { return &loop_; }
  [[nodiscard]] const DeadlineList* wait_list(Wait wait) const {
    return &waits_[static_cast<std::size_t>(wait)];
  }
  [[nodiscard]] uv_buf_t read_buffer();
  [[nodiscard]] std::vector<uv_buf_t>& batch() { return batch_; }
  [[nodiscard]] const ResponseSet& responses() const { return *responses_; }
  [[nodiscard]] const RequestLimits& request_limits() const { return snapshot_->request_limits; }
  [[nodiscard]] const Config& config() const { return snapshot_->config; }
  [[nodiscard]] bool draining() const { return draining_; }
  [[nodiscard]] WorkerMetrics& metrics() { return *metrics_; }
  // The access-log queue while log.access is on, else null.
  [[nodiscard]] AccessLogQueue* access_log() const {
    return snapshot_->config.log.access != AccessLogFormat::off ? access_log_ : nullptr;
  }
  // A response went into the batch: its duration is observed when the
  // batch is handed to the kernel (count_batch).
  void count_batched() { ++batched_; }
  [[nodiscard]] std::uint32_t batched() const { return batched_; }
  void count_batch(std::uint64_t duration_ns) {
    metrics_->observe_durations(duration_ns, batched_);
    batched_ = 0;
  }
  void wait(Connection& connection, Wait wait);
  void release(Connection* connection);
  void count_request(bool bad);
  void on_connection(Listener& listener, int status);

 private:
  friend struct WorkerCallbacks;

  void run_posted();
  void on_deadline_timer();
  void on_date_timer();
  void schedule_deadline(std::uint64_t deadline);
  void arm_date_timer();
  Status add_listener(ListenSocket socket);
  void close_listener(Listener* listener);
  void accept_from(Listener& listener);
  void accept_waiting();
  void close_all_handles();
  void maybe_finish();
  [[nodiscard]] bool at_capacity() const;
  [[nodiscard]] std::uint64_t timeout_ms(Wait wait) const;

  unsigned index_;
  unsigned worker_count_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::unique_ptr<ResponseSet> responses_;  // this worker's copy: its Date bytes change
  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_timer_t deadline_timer_{};
  uv_timer_t date_timer_{};
  std::uint64_t deadline_due_ = 0;
  bool deadline_armed_ = false;
  bool draining_ = false;
  bool finished_ = false;
  std::array<DeadlineList, kWaitKinds> waits_;
  std::vector<Listener*> listeners_;
  std::vector<Listener*> waiting_listeners_;  // at capacity: a client waits to be accepted
  std::vector<char> read_buffer_;
  std::vector<uv_buf_t> batch_;
  std::mutex posted_mutex_;
  std::vector<std::function<void(Worker&)>> posted_;
  bool accepting_posts_ = false;  // guarded by posted_mutex_
  std::thread thread_;
  WorkerCounters counters_;
  std::shared_ptr<WorkerMetrics> metrics_;
  AccessLogQueue* access_log_ = nullptr;  // owned by the supervisor's AccessLogger
  std::uint32_t batched_ = 0;             // responses in batch_ whose duration is not observed yet
  std::atomic<std::uint64_t> heartbeat_ms_{0};
  std::uint64_t last_emfile_log_ms_ = 0;
};

}  // namespace hellod
