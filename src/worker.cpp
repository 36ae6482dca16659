// SPDX-License-Identifier: MIT
#include "worker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>

#include "listener.hpp"
#include "log.hpp"
#include "monotonic.hpp"
#include "thread_name.hpp"

namespace hellod {
namespace {

// One read takes at most this much; see LoopContext::read_buffer.
constexpr std::size_t kReadBufferSize = std::size_t{64} * 1024;
constexpr std::uint64_t kEmfileLogIntervalMs = 1000;
// Clients taken per wakeup of a listener before the loop turns again.
constexpr unsigned kAcceptBurst = 64;
// Events taken per wait; epoll keeps the rest ready for the next turn.
constexpr std::size_t kEventsPerWait = 256;
// After accept(2) ran out of descriptors or memory: nginx waits 500 ms.
constexpr std::uint64_t kAcceptRetryMs = 100;

void expire_connection(DeadlineEntry& entry) {
  static_cast<Connection&>(entry).on_deadline();
}

}  // namespace

struct WorkerCallbacks {
  static Worker& of(uv_handle_t* handle) { return *static_cast<Worker*>(handle->data); }

  template <typename Body>
  static void guarded(const char* what, Body&& body) {
    try {
      body();
    } catch (const std::bad_alloc&) {
      die_out_of_memory(what);
    } catch (const std::exception& error) {
      spdlog::error("{} failed: {}", what, error.what());
    }
  }

  static void on_wakeup(uv_async_t* async) {
    Worker& worker = of(reinterpret_cast<uv_handle_t*>(async));
    guarded("a posted task", [&] { worker.run_posted(); });
  }
  static void on_date(uv_timer_t* timer) {
    of(reinterpret_cast<uv_handle_t*>(timer)).on_date_timer();
  }

  static void on_clients(Listener& listener) {
    Worker& worker = listener.worker();
    guarded("accepting a connection", [&] { worker.accept_from(listener); });
    assert(worker.context_.batch.empty());
  }
  static void on_accept_retry(uv_timer_t* timer) {
    Worker& worker = of(reinterpret_cast<uv_handle_t*>(timer));
    guarded("accepting a connection", [&] { worker.accept_waiting(); });
  }
};

Worker::Worker(unsigned index, unsigned worker_count, std::shared_ptr<const Snapshot> snapshot)
    : index_(index), worker_count_(std::max(worker_count, 1U)) {
  context_.loop = &loop_;
  context_.owner = this;
  context_.read_buffer.resize(kReadBufferSize);
  context_.snapshot = std::move(snapshot);
  context_.responses = std::make_unique<ResponseSet>(context_.snapshot->responses);
  attach_observers();
}

Worker::~Worker() {
  join();
}

Status Worker::start(std::vector<ListenSocket> sockets, std::function<void()> on_finished) {
  Status loop = init_loop();
  if (!loop) return loop;
  for (ListenSocket& socket : sockets) {
    Status added = add_listener(std::move(socket));
    if (!added) {
      // Close what was set up and let the loop wind down, so no descriptor
      // or handle outlives the failed start.
      close_all_handles();
      uv_run(&loop_, UV_RUN_DEFAULT);
      static_cast<void>(uv_loop_close(&loop_));
      closed_listeners_.clear();
      return added;
    }
  }
  heartbeat();
  accepting_posts_ = true;
  thread_ = std::thread([this, finished = std::move(on_finished)] {
    run();
    if (uv_loop_close(&loop_) != 0)
      spdlog::error("worker {}: loop closed with handles open", index_);
    finished();
  });
  name_thread(thread_, "hellod-worker" + std::to_string(index_));
  return Done{};
}

Status Worker::init_loop() {
  int status = uv_loop_init(&loop_);
  if (status < 0)
    return Error{fmt::format("cannot start worker {}: {}", index_, uv_strerror(status))};
  status = context_.inputs.open(uv_backend_fd(&loop_));
  if (status == 0) status = uv_async_init(&loop_, &wakeup_, WorkerCallbacks::on_wakeup);
  if (status == 0)
    status = context_.deadlines.init(&loop_, expire_connection, context_.snapshot->config.timeouts);
  if (status == 0) status = uv_timer_init(&loop_, &date_timer_);
  if (status == 0) status = uv_timer_init(&loop_, &accept_retry_);
  wakeup_.data = date_timer_.data = accept_retry_.data = this;
  // Aligned to the wall clock's second so the Date header turns over when
  // the second does.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto into_second =
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count() % 1000;
  if (status == 0) {
    status = uv_timer_start(&date_timer_, WorkerCallbacks::on_date,
                            static_cast<std::uint64_t>(1000 - into_second), 1000);
  }
  if (status < 0) {
    close_all_handles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    static_cast<void>(uv_loop_close(&loop_));
    return Error{fmt::format("cannot start worker {}: {}", index_, uv_strerror(status))};
  }
  return Done{};
}

// The worker's loop (see InputSet): sleep in the InputSet until input comes
// or libuv has something to do, hand the input to its listener or
// connection, and run libuv's loop once, without waiting, when it does.
// uv_backend_timeout says when: 0 while libuv has work queued, including
// interest in a socket it has not told its epoll set about yet (a uv_write
// the socket did not take at once, a uv_shutdown, the wakeup's eventfd at
// start), else the time to its next timer. libuv's clock, which deadlines
// and timers count from, is read once a turn, after the wait, as nginx
// reads its own: the next wait's timeout is then late by the time this
// turn's work took (microseconds, against timeouts of seconds), which
// saves a clock read per request.
void Worker::run() {
  std::array<epoll_event, kEventsPerWait> events{};
  while (uv_loop_alive(&loop_) != 0) {
    const int timeout = uv_backend_timeout(&loop_);
    const int ready = context_.inputs.wait(events, timeout);
    assert(ready >= 0 || ready == -EINTR);  // the others mean a bad set or buffer
    uv_update_time(&loop_);
    // ready <= 0: nothing came before the timeout, so libuv has work or a
    // timer due (or a signal interrupted the wait, which costs one turn).
    bool libuv_ready = ready <= 0 || timeout == 0;
    for (int i = 0; i < ready; ++i) libuv_ready |= dispatch(events[static_cast<std::size_t>(i)]);
    if (libuv_ready) uv_run(&loop_, UV_RUN_NOWAIT);
    closed_listeners_.clear();  // no event of this batch refers to them any more
  }
  closed_listeners_.clear();
}

// Hands one reported descriptor to its owner; true when it is libuv's.
bool Worker::dispatch(const epoll_event& event) {
  const InputSet::Ready ready = InputSet::owner_of(event);
  if (ready.connection != nullptr) {
    ready.connection->on_input((event.events & EPOLLRDHUP) != 0);
    return false;
  }
  if (ready.listener != nullptr) {
    if (!ready.listener->closing()) WorkerCallbacks::on_clients(*ready.listener);
    return false;
  }
  return true;
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

Status Worker::add_listener(ListenSocket socket) {
  auto* listener = new Listener(*this, socket.name, socket.unix_socket, std::move(socket.fd));
  listeners_.push_back(listener);
  listener->defer_accept(context_.snapshot->config.timeouts.defer_accept);
  const int status = listener->start(context_.inputs);
  if (status < 0) {
    close_listener(listener);
    return Error{fmt::format("cannot listen on {}: {}", socket.name, uv_strerror(status)), -status};
  }
  return Done{};
}

void Worker::close_listener(Listener* listener) {
  if (listener->closing()) return;
  std::erase(listeners_, listener);
  listener->close();
  closed_listeners_.emplace_back(listener);  // freed once no event can refer to it
}

bool Worker::post(std::function<void(Worker&)> task) {
  std::lock_guard lock(posted_mutex_);
  if (!accepting_posts_) return false;  // the loop is gone; nothing is left to act on
  posted_.push_back(std::move(task));
  // uv_async_send fails only on a closing handle, which accepting_posts_ rules out.
  static_cast<void>(uv_async_send(&wakeup_));
  return true;
}

void Worker::run_posted() {
  std::vector<std::function<void(Worker&)>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) {
    try {
      task(*this);
    } catch (const std::bad_alloc&) {
      die_out_of_memory("a worker task");
    } catch (const std::exception& error) {
      spdlog::error("worker {}: {}", index_, error.what());
    }
  }
}

void Worker::heartbeat() {
  heartbeat_ms_.store(monotonic_ms());
}

Status Worker::adopt(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenSocket> added) {
  std::vector<std::string> names;
  for (ListenSocket& socket : added) {
    names.push_back(socket.name);
    Status status = add_listener(std::move(socket));
    if (!status) {
      names.pop_back();
      remove_listeners(names);
      return status;
    }
  }
  use_snapshot(std::move(snapshot));
  return Done{};
}

void Worker::restore(std::shared_ptr<const Snapshot> previous,
                     const std::vector<std::string>& added) {
  remove_listeners(added);
  use_snapshot(std::move(previous));
}

// Runs between callbacks, so no batch points at the old bytes, and queued
// output holds its own references to the bodies it still sends.
void Worker::use_snapshot(std::shared_ptr<const Snapshot> snapshot) {
  auto responses = std::make_unique<ResponseSet>(snapshot->responses);
  responses->set_date(current_http_date());
  context_.snapshot = std::move(snapshot);
  context_.responses = std::move(responses);
  attach_observers();
  context_.deadlines.set_timeouts(context_.snapshot->config.timeouts);
  for (Listener* listener : listeners_)
    listener->defer_accept(context_.snapshot->config.timeouts.defer_accept);
  // A raised max_connections takes the clients waiting in the backlog now.
  if (!context_.draining) accept_waiting();
}

void Worker::use_access_log(AccessLogQueue* queue) {
  access_log_queue_ = queue;
  attach_observers();
}

// The snapshot's counter block for this worker, and the access log if the
// snapshot turns it on. The previous snapshot may have been the last holder
// of its blocks, which are then retired (MetricBlocks): nothing counts into
// them after this.
void Worker::attach_observers() {
  const Snapshot& snapshot = *context_.snapshot;
  if (snapshot.metrics != nullptr) {
    context_.metrics = &snapshot.metrics->of(index_);
  } else {
    if (own_metrics_ == nullptr) {
      own_metrics_ = std::make_unique<WorkerMetrics>(
          std::make_shared<const MetricsLayout>(std::vector<std::string>{}, std::vector<int>{}));
    }
    context_.metrics = own_metrics_.get();
  }
  context_.access_log =
      snapshot.config.log.access != AccessLogFormat::off ? access_log_queue_ : nullptr;
}

void Worker::remove_listeners(const std::vector<std::string>& names) {
  const std::vector<Listener*> current = listeners_;
  for (Listener* listener : current) {
    if (std::find(names.begin(), names.end(), listener->name()) != names.end())
      close_listener(listener);
  }
}

void Worker::drain() {
  context_.draining = true;
  const std::vector<Listener*> current = listeners_;
  for (Listener* listener : current) close_listener(listener);
  context_.deadlines.for_each(
      [](DeadlineEntry& entry) { static_cast<Connection&>(entry).drain(); });
  maybe_finish();
}

void Worker::force_close() {
  context_.draining = true;
  while (DeadlineEntry* entry = context_.deadlines.any())
    static_cast<Connection*>(entry)->close(CloseReason::shutdown);
  maybe_finish();
}

void Worker::maybe_finish() {
  if (!context_.draining || finished_ || context_.counters.open.load() != 0) return;
  finished_ = true;
  {
    std::lock_guard lock(posted_mutex_);
    accepting_posts_ = false;
  }
  close_all_handles();
}

void Worker::close_all_handles() {
  const std::vector<Listener*> current = listeners_;
  for (Listener* listener : current) close_listener(listener);
  for (uv_handle_t* handle :
       {reinterpret_cast<uv_handle_t*>(&wakeup_), reinterpret_cast<uv_handle_t*>(&date_timer_),
        reinterpret_cast<uv_handle_t*>(&accept_retry_)}) {
    // A handle whose init failed (or never ran) has no loop: nothing to close.
    if (handle->loop == &loop_ && !uv_is_closing(handle)) uv_close(handle, nullptr);
  }
  context_.deadlines.close();
}

void Worker::on_date_timer() {
  context_.responses->set_date(current_http_date());
}

bool Worker::at_capacity() const {
  const std::uint32_t limit = context_.snapshot->connection_limit;
  const std::uint32_t share = (limit + worker_count_ - 1) / worker_count_;
  return context_.counters.open.load(std::memory_order_relaxed) >= share;
}

// Takes the listener's waiting clients, up to a burst so the loop's other
// connections get their turn; the poll is level-triggered, so the rest wake
// it again. At capacity the listener pauses: clients wait in the backlog.
void Worker::accept_from(Listener& listener) {
  for (unsigned taken = 0; taken < kAcceptBurst && !listener.closing(); ++taken) {
    if (at_capacity()) {
      listener.pause();  // accept_waiting() resumes it when a connection ends
      return;
    }
    const int fd = accept_client(listener);
    if (fd >= 0) {
      serve(UniqueFd(fd), listener.unix_socket());
    } else if (fd != -EINTR && fd != -ECONNABORTED) {
      if (fd != -EAGAIN && fd != -EWOULDBLOCK) on_accept_failed(listener, -fd);
      return;
    }
  }
}

// While the access log is on, a TCP client's address comes with it, for
// the log lines of all its requests (PeerAddresses).
int Worker::accept_client(const Listener& listener) {
  if (context_.access_log == nullptr || listener.unix_socket()) return listener.accept_one();
  sockaddr_storage peer{};
  const int fd = listener.accept_one(&peer);
  if (fd >= 0) context_.peers.remember(fd, peer);
  return fd;
}

// Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the client
// stays in the backlog, as at capacity: like nginx, hellod stops accepting for
// a moment instead of spinning on the still-readable listener, and says so
// at most once a second.
void Worker::on_accept_failed(Listener& listener, int error) {
  const std::uint64_t now = uv_now(&loop_);
  if (now - last_emfile_log_ms_ >= kEmfileLogIntervalMs) {
    last_emfile_log_ms_ = now;
    spdlog::warn("accepting on {} failed: {}", listener.name(), std::strerror(error));
  }
  listener.pause();
  // uv_timer_start fails only on a closing timer: the loop is ending anyway.
  static_cast<void>(
      uv_timer_start(&accept_retry_, WorkerCallbacks::on_accept_retry, kAcceptRetryMs, 0));
}

void Worker::serve(UniqueFd client, bool unix_socket) {
  Connection* connection = pool_.make(context_);
  context_.counters.open.fetch_add(1, std::memory_order_relaxed);
  bump(context_.counters.accepted);
  // Counted before start(), which may already close it (counting the close).
  context_.metrics->count_accepted();
  if (connection->start(client.release(), unix_socket)) release(connection);
}

// Room again (a connection ended, a reload raised max_connections, the
// retry delay passed): paused listeners watch for their waiting clients.
void Worker::accept_waiting() {
  if (context_.draining || at_capacity()) return;
  for (Listener* listener : listeners_) listener->resume();
}

void Worker::release(Connection* connection) {
  pool_.destroy(connection);
  context_.counters.open.fetch_sub(1, std::memory_order_relaxed);
  if (context_.draining) {
    maybe_finish();
  } else {
    accept_waiting();
  }
}

}  // namespace hellod
