#include "worker.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

namespace hellod {
namespace {

// The kernel caps the backlog at net.core.somaxconn (4096 by default); ask
// for that much so bursts wait in the kernel instead of being refused.
constexpr int kBacklog = 4096;
// One read takes at most this much; it is shared by all of a worker's
// connections, since a read callback finishes before the next one starts.
constexpr std::size_t kReadBufferSize = std::size_t{64} * 1024;
constexpr std::size_t kBatchCapacity = 256;
// Lingering close (see Connection::begin_linger) gives up after this long.
constexpr std::uint64_t kMaxLingerMs = 5000;
constexpr std::uint64_t kEmfileLogIntervalMs = 1000;

std::uint64_t monotonic_ms() {
  return uv_hrtime() / 1'000'000;
}

// Only the owning worker writes its counters, so a relaxed load and store is
// enough and avoids a locked instruction per request.
template <typename T>
void bump(std::atomic<T>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

HttpDate current_date() {
  return format_http_date(std::time(nullptr));
}

}  // namespace

Snapshot::Snapshot(Config validated, std::uint32_t descriptor_budget)
    : config(std::move(validated)),
      responses(config.response, current_date()),
      request_limits{config.limits.max_header_bytes, config.limits.max_body_bytes},
      connection_limit(std::min(config.limits.max_connections, descriptor_budget)) {}

// A listening socket watched by one worker's loop.
class Listener {
 public:
  Listener(Worker& owner, std::string listener_name, bool is_unix)
      : worker(owner), name(std::move(listener_name)), unix_socket(is_unix) {}
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() = default;

  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle{};
  Worker& worker;
  std::string name;
  bool unix_socket;
  bool closing = false;
};

struct WorkerCallbacks {
  static Worker& of(uv_handle_t* handle) { return *static_cast<Worker*>(handle->data); }

  static void on_wakeup(uv_async_t* async) {
    of(reinterpret_cast<uv_handle_t*>(async)).run_posted();
  }
  static void on_deadline(uv_timer_t* timer) {
    of(reinterpret_cast<uv_handle_t*>(timer)).on_deadline_timer();
  }
  static void on_date(uv_timer_t* timer) {
    of(reinterpret_cast<uv_handle_t*>(timer)).on_date_timer();
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* listener = static_cast<Listener*>(server->data);
    try {
      listener->worker.on_connection(*listener, status);
    } catch (const std::exception& error) {
      spdlog::error("accepting on {} failed: {}", listener->name, error.what());
    }
  }

  static void on_listener_closed(uv_handle_t* handle) {
    delete static_cast<Listener*>(handle->data);
  }
  static void on_closed(uv_handle_t* /*handle*/) {}
};

Worker::Worker(unsigned index, unsigned worker_count, std::shared_ptr<const Snapshot> snapshot)
    : index_(index),
      worker_count_(std::max(worker_count, 1U)),
      snapshot_(std::move(snapshot)),
      responses_(std::make_unique<ResponseSet>(snapshot_->responses)) {
  read_buffer_.resize(kReadBufferSize);
  batch_.reserve(kBatchCapacity);
  // A block of its own until the supervisor hands out the registry's.
  metrics_ = std::make_shared<WorkerMetrics>(std::make_shared<const MetricsLayout>(
      std::vector<std::string>{}, std::vector<int>{snapshot_->config.response.status}));
}

Worker::~Worker() {
  join();
}

Status Worker::start(std::vector<ListenSocket> sockets, std::function<void()> on_finished) {
  int status = uv_loop_init(&loop_);
  if (status == 0) status = uv_async_init(&loop_, &wakeup_, WorkerCallbacks::on_wakeup);
  if (status == 0) status = uv_timer_init(&loop_, &deadline_timer_);
  if (status == 0) status = uv_timer_init(&loop_, &date_timer_);
  if (status < 0)
    return Error{fmt::format("cannot start worker {}: {}", index_, uv_strerror(status))};
  wakeup_.data = deadline_timer_.data = date_timer_.data = this;
  arm_date_timer();
  for (ListenSocket& socket : sockets) {
    Status added = add_listener(std::move(socket));
    if (!added) return added;
  }
  heartbeat();
  accepting_posts_ = true;
  thread_ = std::thread([this, finished = std::move(on_finished)] {
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop_) != 0)
      spdlog::error("worker {}: loop closed with handles open", index_);
    finished();
  });
  return Done{};
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

Status Worker::add_listener(ListenSocket socket) {
  auto* listener = new Listener(*this, socket.name, socket.unix_socket);
  const int init = socket.unix_socket ? uv_pipe_init(&loop_, &listener->handle.pipe, 0)
                                      : uv_tcp_init(&loop_, &listener->handle.tcp);
  if (init < 0) {
    delete listener;
    ::close(socket.fd);
    return Error{fmt::format("{}: {}", socket.name, uv_strerror(init))};
  }
  listener->handle.handle.data = listener;
  int status = socket.unix_socket ? uv_pipe_open(&listener->handle.pipe, socket.fd)
                                  : uv_tcp_open(&listener->handle.tcp, socket.fd);
  if (status == 0)
    status = uv_listen(&listener->handle.stream, kBacklog, WorkerCallbacks::on_connection);
  if (status < 0) {
    close_listener(listener);
    return Error{fmt::format("cannot listen on {}: {}", socket.name, uv_strerror(status)), -status};
  }
  listeners_.push_back(listener);
  return Done{};
}

void Worker::close_listener(Listener* listener) {
  if (listener->closing) return;
  listener->closing = true;
  std::erase(listeners_, listener);
  std::erase(waiting_listeners_, listener);
  uv_close(&listener->handle.handle, WorkerCallbacks::on_listener_closed);
}

void Worker::post(std::function<void(Worker&)> task) {
  std::lock_guard lock(posted_mutex_);
  if (!accepting_posts_) return;  // the loop is gone; nothing is left to act on
  posted_.push_back(std::move(task));
  uv_async_send(&wakeup_);
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
    } catch (const std::exception& error) {
      spdlog::error("worker {}: {}", index_, error.what());
    }
  }
}

void Worker::heartbeat() {
  heartbeat_ms_.store(monotonic_ms());
}

// Called between callbacks, so no batch points at the old bytes; queued
// output tails are copies and unaffected.
void Worker::use_snapshot(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  auto responses = std::make_unique<ResponseSet>(snapshot_->responses);
  responses->set_date(current_date());
  responses_ = std::move(responses);
}

// The old block is retired only after the switch, so the registry never
// folds a block this worker may still write.
void Worker::use_metrics(std::shared_ptr<WorkerMetrics> metrics) {
  if (metrics == metrics_) return;
  std::shared_ptr<WorkerMetrics> old = std::exchange(metrics_, std::move(metrics));
  old->retire();
}

void Worker::add_listeners(std::vector<ListenSocket> sockets) {
  for (ListenSocket& socket : sockets) {
    Status added = add_listener(std::move(socket));
    if (!added) spdlog::error("worker {}: {}", index_, added.error().message);
  }
}

void Worker::remove_listeners(const std::vector<std::string>& names) {
  const std::vector<Listener*> current = listeners_;
  for (Listener* listener : current) {
    if (std::find(names.begin(), names.end(), listener->name) != names.end())
      close_listener(listener);
  }
}

void Worker::drain() {
  draining_ = true;
  const std::vector<Listener*> current = listeners_;
  for (Listener* listener : current) close_listener(listener);
  for (DeadlineList& list : waits_) {
    for (DeadlineEntry* entry = list.front(); entry != nullptr;) {
      DeadlineEntry* next = DeadlineList::next(*entry);
      static_cast<Connection*>(entry)->drain();
      entry = next;
    }
  }
  maybe_finish();
}

void Worker::force_close() {
  draining_ = true;
  for (DeadlineList& list : waits_) {
    while (!list.empty()) static_cast<Connection*>(list.front())->close(CloseReason::shutdown);
  }
  maybe_finish();
}

void Worker::maybe_finish() {
  if (!draining_ || finished_ || counters_.open.load() != 0) return;
  finished_ = true;
  close_all_handles();
}

void Worker::close_all_handles() {
  const std::vector<Listener*> current = listeners_;
  for (Listener* listener : current) close_listener(listener);
  {
    std::lock_guard lock(posted_mutex_);
    accepting_posts_ = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), WorkerCallbacks::on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), WorkerCallbacks::on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&date_timer_), WorkerCallbacks::on_closed);
}

uv_buf_t Worker::read_buffer() {
  return uv_buf_init(read_buffer_.data(), static_cast<unsigned>(read_buffer_.size()));
}

std::uint64_t Worker::timeout_ms(Wait wait) const {
  const Timeouts& timeouts = snapshot_->config.timeouts;
  switch (wait) {
    case Wait::header:
      return static_cast<std::uint64_t>(timeouts.header.count());
    case Wait::keepalive:
      return static_cast<std::uint64_t>(timeouts.keepalive.count());
    case Wait::send:
      return static_cast<std::uint64_t>(timeouts.send.count());
    case Wait::linger:
      break;
  }
  return std::min(kMaxLingerMs, static_cast<std::uint64_t>(timeouts.header.count()));
}

void Worker::wait(Connection& connection, Wait wait) {
  if (connection.closing()) return;
  DeadlineList& list = waits_[static_cast<std::size_t>(wait)];
  const bool was_empty = list.empty();
  const std::uint64_t deadline = uv_now(&loop_) + timeout_ms(wait);
  list.push_back(connection, deadline);
  if (was_empty) schedule_deadline(deadline);
}

void Worker::schedule_deadline(std::uint64_t deadline) {
  if (deadline_armed_ && deadline >= deadline_due_) return;
  const std::uint64_t now = uv_now(&loop_);
  uv_timer_start(&deadline_timer_, WorkerCallbacks::on_deadline,
                 deadline > now ? deadline - now : 0, 0);
  deadline_armed_ = true;
  deadline_due_ = deadline;
}

// Expires the fronts of every wait list, then sleeps until the earliest
// remaining deadline.
void Worker::on_deadline_timer() {
  deadline_armed_ = false;
  const std::uint64_t now = uv_now(&loop_);
  std::uint64_t next = 0;
  for (std::size_t kind = 0; kind < waits_.size(); ++kind) {
    DeadlineList& list = waits_[kind];
    while (!list.empty() && list.front()->deadline() <= now) {
      auto* connection = static_cast<Connection*>(list.front());
      DeadlineList::remove(*connection);
      connection->on_deadline(static_cast<Wait>(kind));
    }
    if (!list.empty() && (next == 0 || list.front()->deadline() < next))
      next = list.front()->deadline();
  }
  if (next != 0) schedule_deadline(next);
}

void Worker::arm_date_timer() {
  // Aligned to the wall clock's second so the Date header turns over when
  // the second does.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto into_second =
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count() % 1000;
  uv_timer_start(&date_timer_, WorkerCallbacks::on_date,
                 static_cast<std::uint64_t>(1000 - into_second), 1000);
}

void Worker::on_date_timer() {
  responses_->set_date(current_date());
}

bool Worker::at_capacity() const {
  const std::uint32_t limit = snapshot_->connection_limit;
  const std::uint32_t share = (limit + worker_count_ - 1) / worker_count_;
  return counters_.open.load(std::memory_order_relaxed) >= share;
}

void Worker::on_connection(Listener& listener, int status) {
  if (status < 0) {
    // libuv already shed the pending client (its EMFILE reserve-fd trick), so
    // this cannot spin; say so at most once a second.
    const std::uint64_t now = uv_now(&loop_);
    if (now - last_emfile_log_ms_ >= kEmfileLogIntervalMs) {
      last_emfile_log_ms_ = now;
      spdlog::warn("accepting on {} failed: {}", listener.name, uv_strerror(status));
    }
    return;
  }
  if (at_capacity()) {
    // Not accepting makes libuv stop watching this listener; the client
    // waits in the kernel backlog until accept_waiting() takes it.
    if (std::find(waiting_listeners_.begin(), waiting_listeners_.end(), &listener) ==
        waiting_listeners_.end()) {
      waiting_listeners_.push_back(&listener);
    }
    return;
  }
  accept_from(listener);
}

void Worker::accept_from(Listener& listener) {
  auto* connection = new Connection(*this);
  counters_.open.fetch_add(1, std::memory_order_relaxed);
  // Counted before start(), which may already close it (counting the close).
  metrics_->count_accepted();
  if (!connection->start(&listener.handle.stream, listener.unix_socket)) {
    delete connection;
    counters_.open.fetch_sub(1, std::memory_order_relaxed);
    metrics_->count_closed(CloseReason::error);
    return;
  }
  bump(counters_.accepted);
}

void Worker::accept_waiting() {
  while (!waiting_listeners_.empty() && !at_capacity()) {
    Listener* listener = waiting_listeners_.back();
    waiting_listeners_.pop_back();
    accept_from(*listener);
  }
}

void Worker::release(Connection* connection) {
  delete connection;
  counters_.open.fetch_sub(1, std::memory_order_relaxed);
  if (draining_) {
    maybe_finish();
  } else {
    accept_waiting();
  }
}

void Worker::count_request(bool bad) {
  bump(counters_.requests);
  if (bad) bump(counters_.bad_requests);
}

}  // namespace hellod
