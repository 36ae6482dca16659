// SPDX-License-Identifier: MIT
// Supervisor's stop sequence. With health.drain, a stop signal first fails
// the health routes (503, Connection: close) while everything else is served
// and new connections are accepted, so a load balancer takes the instance
// out of rotation before it goes; then the graceful shutdown: stop
// accepting, finish responses in flight, close idle connections. Each further
// stop signal skips a step: the rest of the drain, then the graceful wait.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <new>

#include "log.hpp"
#include "monotonic.hpp"
#include "supervisor.hpp"
#include "systemd.hpp"

namespace hellod {
namespace {

// Tick of the drain countdown and of the shutdown progress check, and how
// much more time each shutdown tick asks the service manager for while
// connections are still finishing.
constexpr std::uint64_t kTickMs = 1000;
constexpr std::chrono::microseconds kShutdownExtension{5'000'000};

std::uint64_t ms(std::chrono::milliseconds duration) {
  return static_cast<std::uint64_t>(duration.count());
}

std::string drain_status(std::uint64_t left_ms) {
  return fmt::format("draining: health check failing, stopping in {} s", (left_ms + 999) / 1000);
}

}  // namespace

struct SupervisorStopCallbacks {
  template <void (Supervisor::*Tick)()>
  static void on_tick(uv_timer_t* timer) {
    try {
      (static_cast<Supervisor*>(timer->data)->*Tick)();
    } catch (const std::bad_alloc&) {
      die_out_of_memory("stopping");
    } catch (const std::exception& error) {
      spdlog::error("supervisor: {}", error.what());
    }
  }
  static constexpr uv_timer_cb kDrainTick = on_tick<&Supervisor::on_drain_tick>;
  static constexpr uv_timer_cb kShutdownTick = on_tick<&Supervisor::on_shutdown_tick>;
};

void Supervisor::on_stop_signal() {
  switch (stop_) {
    case Stop::serving:
      if (config_.health.drain.count() > 0 && !config_.health.path.empty()) {
        begin_drain();
      } else {
        begin_shutdown();
      }
      return;
    case Stop::draining:
      spdlog::warn("second stop signal: skipping the rest of the drain");
      begin_shutdown();
      return;
    case Stop::stopping:
    case Stop::closing:
      break;
  }
  spdlog::warn("another stop signal: closing every connection now");
  stop_ = Stop::closing;
  for (auto& worker : workers_) worker->post([](Worker& w) { w.force_close(); });
}

// The service manager learns at once that the stop has begun, and how long
// it will take at most: the drain plus timeouts.shutdown (systemd would
// otherwise kill hellod at TimeoutStopSec=).
void Supervisor::begin_drain() {
  stop_ = Stop::draining;
  const std::uint64_t drain = ms(config_.health.drain);
  drain_ends_ms_ = monotonic_ms() + drain;
  const std::string text = drain_status(drain);
  spdlog::info("{} ({} is answered 503)", text, config_.health.path);
  systemd::notify_stopping(text);
  systemd::notify_extend_timeout(std::chrono::duration_cast<std::chrono::microseconds>(
                                     config_.health.drain + config_.timeouts.shutdown) +
                                 kShutdownExtension);
  for (auto& worker : workers_) worker->post([](Worker& w) { w.fail_health(); });
  if (const int status = uv_timer_start(&drain_timer_, SupervisorStopCallbacks::kDrainTick,
                                        std::min(drain, kTickMs), kTickMs);
      status < 0) {
    spdlog::error("cannot time the drain: {}; stopping now", uv_strerror(status));
    begin_shutdown();
  }
}

void Supervisor::on_drain_tick() {
  if (stop_ != Stop::draining) return;
  const std::uint64_t now = monotonic_ms();
  if (now >= drain_ends_ms_) {
    spdlog::info("drain period over");
    begin_shutdown();
    return;
  }
  const std::uint64_t left = drain_ends_ms_ - now;
  systemd::notify_status(drain_status(left));
  // The last tick lands on the drain's end, not up to a second after it.
  if (left < kTickMs) {
    static_cast<void>(
        uv_timer_start(&drain_timer_, SupervisorStopCallbacks::kDrainTick, left, kTickMs));
  }
}

void Supervisor::begin_shutdown() {
  stop_ = Stop::stopping;
  uv_timer_stop(&drain_timer_);
  shutdown_started_ms_ = monotonic_ms();
  backlog_.forget_all();  // its duplicates would keep the listening sockets open
  last_open_ = open_connections();
  last_requests_ = requests_served();
  const std::string text = fmt::format("stopping: draining {} connection(s)", last_open_);
  spdlog::info("{}", text);
  systemd::notify_stopping(text);
  uv_timer_stop(&watchdog_timer_);
  for (auto& worker : workers_) worker->post([](Worker& w) { w.drain(); });
  if (const int status = uv_timer_start(&shutdown_timer_, SupervisorStopCallbacks::kShutdownTick,
                                        kTickMs, kTickMs);
      status < 0) {
    spdlog::error("cannot time the shutdown: {}", uv_strerror(status));
  }
}

// While draining: past timeouts.shutdown close what is left; before that,
// ask systemd for more time whenever connections are still finishing.
void Supervisor::on_shutdown_tick() {
  const auto elapsed = monotonic_ms() - shutdown_started_ms_;
  if (elapsed >= ms(config_.timeouts.shutdown)) {
    spdlog::warn("timeouts.shutdown passed: closing {} remaining connection(s)",
                 open_connections());
    stop_ = Stop::closing;
    for (auto& worker : workers_) worker->post([](Worker& w) { w.force_close(); });
    uv_timer_stop(&shutdown_timer_);
    return;
  }
  const std::uint32_t open = open_connections();
  const std::uint64_t requests = requests_served();
  if (open < last_open_ || requests > last_requests_) {
    systemd::notify_extend_timeout(kShutdownExtension);
    systemd::notify_status(fmt::format("stopping: {} connection(s) left", open));
  }
  last_open_ = open;
  last_requests_ = requests;
}

}  // namespace hellod
