// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "access_logger.hpp"
#include "backlog_probe.hpp"
#include "config.hpp"
#include "fd_store.hpp"
#include "listeners.hpp"
#include "metrics_exposition.hpp"
#include "metrics_listener.hpp"
#include "metrics_registry.hpp"
#include "reload_plan.hpp"
#include "result.hpp"
#include "systemd.hpp"
#include "worker.hpp"

namespace hellod {

// Where the configuration comes from, so a reload reads the same place.
struct ConfigSource {
  std::string path;    // the file read at start, or kDefaultConfigPath
  bool explicit_path;  // given with --config: it must exist
};

// Loads the config the way start-up and reload both do: the file when it
// exists (or was named), else the embedded default.
Result<Config> load_config(const ConfigSource& source);

// What load_config reads, for logs: the path, or the embedded default.
std::string config_origin(const ConfigSource& source);

// The control loop on the main thread: starts the workers, then handles
// signals (SIGHUP reload, SIGTERM/SIGINT drain), the watchdog and the
// service manager's status. Knows nothing of HTTP.
class Supervisor {
 public:
  explicit Supervisor(ConfigSource source);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();

  // Runs until shut down; returns the process exit code.
  int run(Config config);

 private:
  friend struct SupervisorCallbacks;
  friend struct SupervisorStopCallbacks;

  Status start(Config config);
  Result<WorkerSockets> open_sockets(const Config& config);
  Result<WorkerSockets> serve_activated(std::vector<systemd::PassedSocket>& passed,
                                        const std::vector<std::size_t>& activated,
                                        unsigned workers);
  void release_stored(std::vector<systemd::PassedSocket>& passed,
                      const std::vector<fd_store::Release>& released);
  Result<std::vector<ListenSocket>> copies_to_store(const WorkerSockets& sockets) const;
  void keep_in_store(std::vector<ListenSocket>&& copies);
  void remove_from_store(const std::vector<ListenAddress>& removed, bool metrics = false);
  static std::vector<std::vector<AdoptedSocket>> take_back(
      std::vector<systemd::PassedSocket>& passed,
      const std::vector<std::vector<fd_store::Adoption>>& plan,
      const std::vector<ListenAddress>& entries);
  [[nodiscard]] bool in_store(const ListenAddress& address) const;
  Status start_loop();
  void reload();
  void begin_reload();
  Result<std::unique_ptr<ReloadPlan>> prepare(Config next);
  void post_adopt();
  void on_worker_reports();
  void settle_reload();
  void finish_reload(const Status& outcome);
  void report(unsigned worker, Status status);
  void on_stop_signal();
  void begin_drain();
  void on_drain_tick();
  void begin_shutdown();
  void on_shutdown_tick();
  void on_worker_finished();
  void on_watchdog_tick();
  void block_a_worker(std::size_t index);
  // Metrics and access-log wiring (supervisor_metrics.cpp).
  std::shared_ptr<const Snapshot> make_snapshot(const Config& config);
  Result<std::vector<ListenSocket>> bind_metrics(const std::vector<ListenAddress>& addresses,
                                                 std::vector<std::vector<AdoptedSocket>> adopted);
  Result<std::vector<ListenSocket>> metrics_copies(std::vector<ListenSocket>& sockets) const;
  Status open_metrics(const Config& config);
  Status start_metrics();
  Status prepare_metrics(const Config& next, ReloadPlan& reload);
  void commit_metrics(const Config& next, std::vector<ListenSocket> added);
  void count_reload(bool succeeded);
  std::string render_metrics();
  void close_handles();
  void remove_unix_socket_files() const;
  std::array<uv_handle_t*, 10> control_handles();
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] std::uint32_t open_connections() const;
  [[nodiscard]] std::uint64_t requests_served() const;

  ConfigSource source_;
  Config config_;
  std::uint32_t connection_budget_ = 0;  // connections the open-file limit has room for
  // What is actually served, for STATUS=: the bound address of each
  // config_.listen entry in order (port 0 resolved), or the inherited sockets.
  std::vector<std::string> serving_;
  bool socket_activated_ = false;
  // systemd's file descriptor store (supervisor_store.cpp): whether hellod
  // keeps its listening sockets there, each stored socket's listen: entry
  // (to_string()) and FDNAME=, and the copies to store once start-up is
  // through.
  bool store_enabled_ = false;
  std::vector<std::pair<std::string, std::string>> stored_;
  std::vector<ListenSocket> unstored_;
  // Passed sockets that belong to another listener (fd_store::kMetricsName):
  // kept open, neither served nor released here.
  std::vector<ListenSocket> reserved_;
  // serving -> draining (health routes fail, everything else is served,
  // only with health.drain) -> stopping (graceful shutdown) -> closing.
  enum class Stop : unsigned char { serving, draining, stopping, closing };
  Stop stop_ = Stop::serving;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const Snapshot> snapshot_;  // what every worker serves
  std::unique_ptr<ReloadPlan> reload_;        // the reload waiting for workers, if any
  bool reload_again_ = false;                 // a SIGHUP came during it
  std::mutex reports_mutex_;
  std::vector<std::pair<unsigned, Status>> reports_;  // guarded by reports_mutex_
  uv_loop_t loop_{};
  uv_async_t worker_finished_{};
  uv_async_t worker_reported_{};
  uv_signal_t sighup_{};
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sigusr1_{};
  uv_signal_t sigusr2_{};
  uv_timer_t watchdog_timer_{};
  uv_timer_t shutdown_timer_{};
  uv_timer_t drain_timer_{};
  std::uint64_t drain_ends_ms_ = 0;
  std::optional<std::chrono::microseconds> watchdog_;
  std::uint64_t last_ping_ms_ = 0;
  std::uint64_t shutdown_started_ms_ = 0;
  std::uint32_t last_open_ = 0;
  std::uint64_t last_requests_ = 0;
  bool loop_started_ = false;
  std::atomic<std::size_t> finished_workers_{0};
  std::unique_ptr<MetricsRegistry> metrics_registry_;
  std::unique_ptr<MetricsListener> metrics_listener_;
  std::unique_ptr<AccessLogger> access_logger_;  // outlives the workers: they hold its queues
  BacklogProbe backlog_;
  ServerMetrics server_metrics_;
  std::vector<ListenSocket> metrics_sockets_;  // bound or passed at start, until the loop runs
  bool metrics_inherited_ = false;             // a socket named "metrics" was passed
  // Stored metrics sockets taken back at start, for open_metrics.
  std::vector<std::vector<AdoptedSocket>> metrics_adopted_;
};

}  // namespace hellod
