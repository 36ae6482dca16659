// SPDX-License-Identifier: MIT
#pragma once

#include <sys/epoll.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "connection_pool.hpp"
#include "listeners.hpp"
#include "loop_context.hpp"
#include "result.hpp"
#include "snapshot.hpp"

namespace hellod {

class Listener;

// One thread, one uv loop, its own listeners and connections. Workers share
// nothing mutable: the supervisor talks to a worker only through post().
class Worker final : public ConnectionOwner {
 public:
  // worker_count splits limits.max_connections between the workers.
  Worker(unsigned index, unsigned worker_count, std::shared_ptr<const Snapshot> snapshot);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  // Sets up the loop and starts listening on the sockets (whose ownership
  // moves to the worker), then runs the loop on a new thread. On failure
  // nothing runs and every socket is closed. on_finished runs on the
  // worker's thread once its loop has ended.
  Status start(std::vector<ListenSocket> sockets, std::function<void()> on_finished);
  void join();

  // Thread-safe: runs task on the worker's thread between callbacks. False
  // when the loop has ended and the task was dropped.
  bool post(std::function<void(Worker&)> task);

  // The commands the supervisor posts. A reload is adopt() on every worker,
  // then remove_listeners() once all adopted, or restore() on those that did
  // when one failed: no worker ever serves a half-applied reload.
  Status adopt(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenSocket> added);
  void remove_listeners(const std::vector<std::string>& names);
  void restore(std::shared_ptr<const Snapshot> previous, const std::vector<std::string>& added);
  // The drain period before a stop: health routes answer 503 and close.
  void fail_health() { context_.health_failing = true; }
  // Where access records go while log.access is on; set before start().
  void use_access_log(AccessLogQueue* queue);
  void drain();
  void force_close();

  [[nodiscard]] unsigned index() const { return index_; }
  [[nodiscard]] const WorkerCounters& counters() const { return context_.counters; }
  // Monotonic milliseconds when the loop last ran a posted task: the
  // watchdog's proof that this loop still turns.
  [[nodiscard]] std::uint64_t last_heartbeat_ms() const { return heartbeat_ms_.load(); }
  void heartbeat();

  void release(Connection* connection) override;

 private:
  friend struct WorkerCallbacks;

  void run();
  bool dispatch(const epoll_event& event);
  void run_posted();
  void use_snapshot(std::shared_ptr<const Snapshot> snapshot);
  void attach_observers();
  void on_date_timer();
  Status init_loop();
  Status add_listener(ListenSocket socket);
  void close_listener(Listener* listener);
  void accept_from(Listener& listener);
  [[nodiscard]] int accept_client(const Listener& listener);
  void on_accept_failed(Listener& listener, int error);
  void serve(UniqueFd client, bool unix_socket);
  void accept_waiting();
  void close_all_handles();
  void maybe_finish();
  [[nodiscard]] bool at_capacity() const;

  unsigned index_;
  unsigned worker_count_;
  uv_loop_t loop_{};
  ConnectionPool pool_;  // the memory of ended connections, for the next ones
  LoopContext context_;
  AccessLogQueue* access_log_queue_ = nullptr;  // owned by the supervisor's AccessLogger
  // Counters when the snapshot brings none (a worker outside the supervisor).
  std::unique_ptr<WorkerMetrics> own_metrics_;
  uv_async_t wakeup_{};
  uv_timer_t date_timer_{};
  uv_timer_t accept_retry_{};  // resumes listeners paused by a failed accept(2)
  bool finished_ = false;
  std::vector<Listener*> listeners_;
  std::vector<std::unique_ptr<Listener>> closed_listeners_;
  std::mutex posted_mutex_;
  std::vector<std::function<void(Worker&)>> posted_;
  bool accepting_posts_ = false;  // guarded by posted_mutex_
  std::thread thread_;
  std::atomic<std::uint64_t> heartbeat_ms_{0};
  std::uint64_t last_emfile_log_ms_ = 0;
};

}  // namespace hellod
