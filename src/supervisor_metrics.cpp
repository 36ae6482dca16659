// SPDX-License-Identifier: MIT
// Supervisor's metrics and access-log wiring: the metrics listener's
// sockets (bound, passed by a socket unit, moved on reload), the counter
// blocks each snapshot carries, and the scrape.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "fd_store.hpp"

#include <algorithm>
#include <chrono>

#include "lossy_line_sink.hpp"
#include "route_table.hpp"
#include "supervisor.hpp"
#include "version.hpp"

namespace hellod {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The request table's shape for a configuration: its routes by name in
// file order (route_of numbers them so), and what each row answers with: a
// route its response's status (and 503 while the health route fails), the
// unrouted row the top-level response's and hellod's own error statuses.
std::shared_ptr<const MetricsLayout> layout_for(const Config& config) {
  std::vector<std::string> names;
  std::vector<std::vector<int>> answered;
  for (const RouteConfig& route : config.routes) {
    names.push_back(route.name);
    answered.push_back({route.response.status});
    if (is_health_route(route.match, config.health.path)) answered.back().push_back(503);
  }
  std::vector<int> unrouted(kOwnStatuses.begin(), kOwnStatuses.end());
  unrouted.push_back(config.response.status);
  answered.push_back(std::move(unrouted));
  return std::make_shared<const MetricsLayout>(std::move(names), std::vector<int>{}, answered);
}

}  // namespace

std::shared_ptr<const Snapshot> Supervisor::make_snapshot(const Config& config) {
  return std::make_shared<const Snapshot>(config, connection_budget_,
                                          metrics_registry_->use_layout(layout_for(config)));
}

// One socket per address: scrapes are served by the supervisor's loop only.
// Each has its metrics name in the fd store; adopted: stored ones to serve
// again, per address.
Result<std::vector<ListenSocket>> Supervisor::bind_metrics(
    const std::vector<ListenAddress>& addresses, std::vector<std::vector<AdoptedSocket>> adopted) {
  if (addresses.empty()) return std::vector<ListenSocket>{};
  Result<WorkerSockets> bound = bind_listeners(addresses, 1, std::move(adopted));
  if (!bound) return bound.error();
  std::vector<ListenSocket> sockets = std::move(bound.value().front());
  for (std::size_t i = 0; i < sockets.size(); ++i)
    sockets[i].stored_name = fd_store::stored_metrics_name(addresses[i]);
  return sockets;
}

// Copies of metrics sockets for the fd store (none when it is off), as
// copies_to_store makes them for the listeners.
Result<std::vector<ListenSocket>> Supervisor::metrics_copies(
    std::vector<ListenSocket>& sockets) const {
  if (!store_enabled_ || sockets.empty()) return std::vector<ListenSocket>{};
  WorkerSockets one;
  one.push_back(std::move(sockets));
  Result<std::vector<ListenSocket>> copies = copies_to_store(one);
  sockets = std::move(one.front());
  return copies;
}

// A socket unit's socket named "metrics" (reserved_ by open_sockets) serves
// the metrics; otherwise metrics.listen is bound.
Status Supervisor::open_metrics(const Config& config) {
  metrics_inherited_ = !reserved_.empty();
  if (metrics_inherited_) {
    metrics_sockets_ = std::move(reserved_);
    reserved_.clear();
    return Done{};
  }
  Result<std::vector<ListenSocket>> bound =
      bind_metrics(config.metrics.listen, std::move(metrics_adopted_));
  if (!bound) return bound.error();
  metrics_sockets_ = std::move(bound.value());
  Result<std::vector<ListenSocket>> copies = metrics_copies(metrics_sockets_);
  if (!copies) return copies.error();
  for (ListenSocket& copy : copies.value()) unstored_.push_back(std::move(copy));
  return Done{};
}

Status Supervisor::start_metrics() {
  server_metrics_.version = kVersion;
  server_metrics_.workers = config_.workers;
  server_metrics_.last_reload_success_seconds = now_seconds();
  metrics_listener_ =
      std::make_unique<MetricsListener>(&loop_, [this] { return render_metrics(); });
  metrics_listener_->set_path(config_.metrics.path);
  for (ListenSocket& socket : metrics_sockets_) {
    const std::string address = describe_socket(socket.fd.get());
    Status added = metrics_listener_->add(std::move(socket));
    if (!added) return added;
    spdlog::info("metrics: serving http://{}{}{}", address, config_.metrics.path,
                 metrics_inherited_ ? " (the socket unit's \"metrics\" socket)" : "");
  }
  metrics_sockets_.clear();
  return Done{};
}

// Binds the metrics addresses the next configuration adds; nothing changes
// yet (commit_metrics does), so a failure leaves everything as it was.
Status Supervisor::prepare_metrics(const Config& next, ReloadPlan& reload) {
  if (metrics_inherited_) {
    if (next.metrics.listen != config_.metrics.listen)
      spdlog::info("socket-activated metrics: metrics.listen changes are ignored");
    return Done{};
  }
  const std::vector<ListenAddress> added =
      missing_from(next.metrics.listen, config_.metrics.listen);
  Result<std::vector<ListenSocket>> bound = bind_metrics(added, {});
  if (!bound) return bound.error();
  Result<std::vector<ListenSocket>> copies = metrics_copies(bound.value());
  if (!copies) return copies.error();
  for (ListenSocket& copy : copies.value()) reload.to_store.push_back(std::move(copy));
  reload.metrics_added = std::move(bound.value());
  return Done{};
}

// New metrics addresses listen before removed ones close, as for listen:.
void Supervisor::commit_metrics(const Config& next, std::vector<ListenSocket> added) {
  metrics_listener_->set_path(next.metrics.path);
  for (ListenSocket& socket : added) {  // add() owns the socket from here, also on failure
    const std::string address = describe_socket(socket.fd.get());
    Status listening = metrics_listener_->add(std::move(socket));
    if (listening) {
      spdlog::info("metrics: serving http://{}{}", address, next.metrics.path);
    } else {
      spdlog::error("{}", listening.error().message);
    }
  }
  if (metrics_inherited_) return;
  std::vector<std::string> removed;
  const std::vector<ListenAddress> gone = missing_from(config_.metrics.listen, next.metrics.listen);
  remove_from_store(gone, true);
  for (const ListenAddress& address : gone) {
    removed.push_back(address.to_string());
    if (address.kind == ListenAddress::Kind::unix_path) ::unlink(address.path.c_str());
    spdlog::info("metrics: stopped listening on {}", address.to_string());
  }
  metrics_listener_->remove(removed);
}

void Supervisor::count_reload(bool succeeded) {
  server_metrics_.last_reload_successful = succeeded;
  if (succeeded) {
    ++server_metrics_.reloads_succeeded;
    server_metrics_.last_reload_success_seconds = now_seconds();
  } else {
    ++server_metrics_.reloads_failed;
  }
}

// A scrape, on the supervisor's loop: the workers are read, never stopped.
std::string Supervisor::render_metrics() {
  server_metrics_.draining = stop_ != Stop::serving;
  server_metrics_.waiting_backlog = backlog_.waiting();
  server_metrics_.log_lines_dropped = LossyLineSink::dropped_total();
  return render_exposition(metrics_registry_->collect(), server_metrics_, read_process_metrics());
}

}  // namespace hellod
