// SPDX-License-Identifier: MIT
#include "supervisor.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <thread>

#include "log.hpp"
#include "monotonic.hpp"
#include "systemd.hpp"

namespace hellod {
namespace {

// Descriptors hellod needs beyond its connections: listeners, the journal,
// the event loops' own.
constexpr rlim_t kReservedDescriptors = 16;
constexpr rlim_t kDescriptorsPerLoop = 4;
// The metrics listener's connections (see metrics_listener.cpp), when on.
constexpr rlim_t kMetricsConnections = 16;

bool file_exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// Every connection is a descriptor; the soft limit is often 1024, far below
// limits.max_connections, so take what the hard limit allows.
rlim_t raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return RLIM_INFINITY;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t old_soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
      spdlog::info("raised the open-file limit from {} to {}", old_soft, limit.rlim_cur);
    } else {
      limit.rlim_cur = old_soft;
    }
  }
  return limit.rlim_cur;
}

// How many connections fit in the open-file limit once hellod's own
// descriptors are set aside: stdio, the journal, each loop's epoll, eventfd
// and spare descriptor, every listener of every worker twice (the worker's
// socket and the backlog probe's duplicate), and the metrics listener's.
std::uint32_t connection_budget(rlim_t open_files, const Config& config) {
  const rlim_t metrics =
      config.metrics.enabled() ? kMetricsConnections + config.metrics.listen.size() : 0;
  const rlim_t reserved = kReservedDescriptors + metrics +
                          (config.workers * (kDescriptorsPerLoop + (2 * config.listen.size())));
  if (open_files == RLIM_INFINITY) return std::numeric_limits<std::uint32_t>::max();
  if (open_files <= reserved) return 1;
  return static_cast<std::uint32_t>(
      std::min<rlim_t>(open_files - reserved, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

std::string config_origin(const ConfigSource& source) {
  if (source.explicit_path || file_exists(source.path)) return source.path;
  return "the embedded default configuration";
}

Result<Config> load_config(const ConfigSource& source) {
  if (source.explicit_path || file_exists(source.path)) return load_config_file(source.path);
  return Config{};
}

struct SupervisorCallbacks {
  static Supervisor& of(void* handle) {
    return *static_cast<Supervisor*>(static_cast<uv_handle_t*>(handle)->data);
  }
  template <typename Body>
  static void guarded(Body&& body) {
    try {
      body();
    } catch (const std::bad_alloc&) {
      die_out_of_memory("supervising");
    } catch (const std::exception& error) {
      spdlog::error("supervisor: {}", error.what());
    }
  }
  static void on_signal(uv_signal_t* handle, int signal) {
    Supervisor& self = of(handle);
    guarded([&] {
      if (signal == SIGHUP) {
        self.reload();
      } else if (signal == SIGUSR1) {
        self.block_a_worker(0);
      } else if (signal == SIGUSR2) {
        self.block_a_worker(self.workers_.size() - 1);
      } else {
        self.on_stop_signal();
      }
    });
  }
  static void on_worker_finished(uv_async_t* handle) {
    guarded([&] { of(handle).on_worker_finished(); });
  }
  static void on_worker_reported(uv_async_t* handle) {
    Supervisor& self = of(handle);
    try {
      self.on_worker_reports();
    } catch (const std::bad_alloc&) {
      die_out_of_memory("reloading");
    } catch (const std::exception& error) {
      // The reload cannot complete as planned; it still ends with READY=1.
      if (self.reload_ != nullptr) self.finish_reload(Error{error.what()});
    }
  }
  static void on_watchdog(uv_timer_t* handle) {
    guarded([&] { of(handle).on_watchdog_tick(); });
  }

  static void on_closed(uv_handle_t* /*handle*/) {}
};

Supervisor::Supervisor(ConfigSource source) : source_(std::move(source)) {}

Supervisor::~Supervisor() {
  for (auto& worker : workers_) worker->join();
}

int Supervisor::run(Config config) {
  Status started = start(std::move(config));
  if (!started) {
    spdlog::error("{}", started.error().message);
    systemd::notify_failure(started.error().message, started.error().errno_value);
    // Workers that did start are stopped before exiting.
    for (auto& worker : workers_) worker->post([](Worker& w) { w.force_close(); });
    for (auto& worker : workers_) worker->join();
    if (loop_started_) {
      // Let the metrics listener's and the control handles' close callbacks
      // run, so nothing is left allocated.
      close_handles();
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
    return 1;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& worker : workers_) worker->join();
  uv_loop_close(&loop_);
  remove_unix_socket_files();
  spdlog::info("stopped after serving {} requests", requests_served());
  return 0;
}

// The socket files hellod bound itself would otherwise outlive it (the next
// start would find nobody answering and bind again, but a stale file
// misleads an operator). Inherited sockets belong to systemd, and so do
// stored ones: the next hellod takes them back and serves the same file.
void Supervisor::remove_unix_socket_files() const {
  if (socket_activated_) return;
  for (const ListenAddress& address : config_.listen) {
    if (address.kind == ListenAddress::Kind::unix_path && !in_store(address)) {
      ::unlink(address.path.c_str());
    }
  }
}

Status Supervisor::start(Config config) {
  config_ = std::move(config);
  connection_budget_ = connection_budget(raise_descriptor_limit(), config_);
  if (config_.limits.max_connections > connection_budget_) {
    // Beyond the budget clients wait in the kernel backlog, as they do at
    // limits.max_connections, instead of failing on EMFILE.
    spdlog::warn(
        "limits.max_connections is {} but the open-file limit only leaves room for {} "
        "connection(s) at once: others wait in the backlog; raise LimitNOFILE=",
        config_.limits.max_connections, connection_budget_);
  }
  metrics_registry_ = std::make_unique<MetricsRegistry>(config_.workers);
  access_logger_ = std::make_unique<AccessLogger>(
      config_.workers, AccessLogger::Options{logging_to_journal() ? AccessLogger::Sink::journal
                                                                  : AccessLogger::Sink::stream});
  Result<WorkerSockets> sockets = open_sockets(config_);
  if (!sockets) return sockets.error();
  // Socket-activated sockets are shared by every worker; bound TCP ones are
  // a socket per worker, each with its own queue.
  if (socket_activated_) {
    backlog_.watch(sockets.value().front());
  } else {
    backlog_.watch(sockets.value());
  }
  if (Status metrics = open_metrics(config_); !metrics) return metrics;
  Status loop = start_loop();
  if (!loop) return loop;
  if (Status metrics = start_metrics(); !metrics) return metrics;
  snapshot_ = make_snapshot(config_);
  for (unsigned i = 0; i < config_.workers; ++i) {
    auto worker = std::make_unique<Worker>(i, config_.workers, snapshot_);
    worker->use_access_log(access_logger_->queue(i));
    Status worker_started = worker->start(std::move(sockets.value()[i]), [this] {
      finished_workers_.fetch_add(1);
      uv_async_send(&worker_finished_);
    });
    if (!worker_started) return worker_started;
    workers_.push_back(std::move(worker));
  }
  keep_in_store(std::move(unstored_));
  spdlog::info("{}", describe());
  systemd::notify_ready(describe());
  return Done{};
}

Status Supervisor::start_loop() {
  int status = uv_loop_init(&loop_);
  if (status == 0)
    status = uv_async_init(&loop_, &worker_finished_, SupervisorCallbacks::on_worker_finished);
  if (status == 0)
    status = uv_async_init(&loop_, &worker_reported_, SupervisorCallbacks::on_worker_reported);
  for (uv_signal_t* handle : {&sighup_, &sigterm_, &sigint_, &sigusr1_, &sigusr2_}) {
    if (status == 0) status = uv_signal_init(&loop_, handle);
  }
  if (status == 0) status = uv_timer_init(&loop_, &watchdog_timer_);
  if (status == 0) status = uv_timer_init(&loop_, &shutdown_timer_);
  if (status == 0) status = uv_timer_init(&loop_, &drain_timer_);
  if (status < 0)
    return Error{fmt::format("cannot start the control loop: {}", uv_strerror(status))};
  loop_started_ = true;
  for (uv_handle_t* handle : control_handles()) handle->data = this;
  std::vector<std::pair<uv_signal_t*, int>> signals{
      {&sighup_, SIGHUP}, {&sigterm_, SIGTERM}, {&sigint_, SIGINT}};
#ifdef HELLOD_TEST_HOOKS
  signals.insert(signals.end(), {{&sigusr1_, SIGUSR1}, {&sigusr2_, SIGUSR2}});
#endif
  for (const auto& [handle, signal] : signals) {
    status = uv_signal_start(handle, SupervisorCallbacks::on_signal, signal);
    if (status < 0) {
      return Error{fmt::format("cannot handle signal {}: {}", signal, uv_strerror(status))};
    }
  }
  watchdog_ = systemd::watchdog_interval();
  if (watchdog_) {
    const auto half =
        std::max<std::uint64_t>(static_cast<std::uint64_t>(watchdog_->count() / 2000), 1);
    last_ping_ms_ = monotonic_ms();
    status = uv_timer_start(&watchdog_timer_, SupervisorCallbacks::on_watchdog, half, half);
    if (status < 0) return Error{fmt::format("cannot start the watchdog: {}", uv_strerror(status))};
    spdlog::info("watchdog: pinging every {} ms", half);
  }
  return Done{};
}

std::string Supervisor::describe() const {
  return fmt::format("serving {} with {} worker{}{}", fmt::join(serving_, ", "), workers_.size(),
                     workers_.size() == 1 ? "" : "s",
                     socket_activated_ ? " (socket-activated)" : "");
}

void Supervisor::on_worker_finished() {
  // Sends of one uv_async_t may coalesce, so count the finished workers.
  if (finished_workers_.load() == workers_.size()) close_handles();
}

std::array<uv_handle_t*, 10> Supervisor::control_handles() {
  return {reinterpret_cast<uv_handle_t*>(&worker_finished_),
          reinterpret_cast<uv_handle_t*>(&worker_reported_),
          reinterpret_cast<uv_handle_t*>(&sighup_),
          reinterpret_cast<uv_handle_t*>(&sigterm_),
          reinterpret_cast<uv_handle_t*>(&sigint_),
          reinterpret_cast<uv_handle_t*>(&sigusr1_),
          reinterpret_cast<uv_handle_t*>(&sigusr2_),
          reinterpret_cast<uv_handle_t*>(&watchdog_timer_),
          reinterpret_cast<uv_handle_t*>(&shutdown_timer_),
          reinterpret_cast<uv_handle_t*>(&drain_timer_)};
}

void Supervisor::close_handles() {
  if (metrics_listener_) metrics_listener_->close();
  for (uv_handle_t* handle : control_handles()) {
    if (!uv_is_closing(handle)) uv_close(handle, SupervisorCallbacks::on_closed);
  }
}

// WATCHDOG=1 only when every worker ran the heartbeat posted at the last
// tick, so one stuck loop is enough for systemd to restart the service.
void Supervisor::on_watchdog_tick() {
  const bool all_alive = std::all_of(workers_.begin(), workers_.end(), [this](const auto& worker) {
    return worker->last_heartbeat_ms() >= last_ping_ms_;
  });
  if (all_alive) {
    systemd::notify_watchdog();
  } else {
    spdlog::error("a worker's event loop has not turned for {} ms; withholding WATCHDOG=1",
                  monotonic_ms() - last_ping_ms_);
  }
  last_ping_ms_ = monotonic_ms();
  for (auto& worker : workers_) worker->post([](Worker& w) { w.heartbeat(); });
}

// Test builds only: SIGUSR1 blocks worker 0's loop, SIGUSR2 the last
// worker's, for a while: the watchdog test needs WATCHDOG=1 to stop, and the
// socket-activation test needs to see the other worker serve alone. The
// worker itself logs once it is blocked, so a test can wait for that line.
void Supervisor::block_a_worker(std::size_t index) {
  workers_.at(index)->post([](Worker& w) {
    spdlog::warn("test hook: worker {} blocked for 10 s", w.index());
    std::this_thread::sleep_for(std::chrono::seconds(10));
  });
}

std::uint32_t Supervisor::open_connections() const {
  std::uint32_t open = 0;
  for (const auto& worker : workers_) open += worker->counters().open.load();
  return open;
}

std::uint64_t Supervisor::requests_served() const {
  std::uint64_t requests = 0;
  for (const auto& worker : workers_) requests += worker->counters().requests.load();
  return requests;
}

}  // namespace hellod
