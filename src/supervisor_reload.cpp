// Supervisor's SIGHUP path: re-read, validate, then switch listeners and
// workers to the new configuration without refusing or dropping a client.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "log.hpp"
#include "supervisor.hpp"
#include "systemd.hpp"

namespace hellod {
namespace {

std::vector<ListenAddress> missing_from(const std::vector<ListenAddress>& wanted,
                                        const std::vector<ListenAddress>& present) {
  std::vector<ListenAddress> missing;
  for (const ListenAddress& address : wanted) {
    if (std::find(present.begin(), present.end(), address) == present.end())
      missing.push_back(address);
  }
  return missing;
}

}  // namespace

// SIGHUP: the new config is read and validated completely before anything
// changes; an invalid one changes nothing. RELOADING=1 is always followed by
// READY=1, also on failure, or systemd 253+ would wait for the reload to
// finish until it times out (sd_notify(3), "RELOADING=1").
void Supervisor::reload() {
  if (shutting_down_) return;
  systemd::notify_reloading();
  spdlog::info("reloading {}", config_origin(source_));
  Result<Config> loaded = load_config(source_);
  Status applied = loaded ? apply(std::move(loaded.value())) : Status(loaded.error());
  count_reload(applied.ok());
  if (!applied) {
    spdlog::error("reload failed, still serving the previous configuration: {}",
                  applied.error().message);
    systemd::notify_ready(
        fmt::format("reload failed: {}; {}", applied.error().message, describe()));
    return;
  }
  spdlog::info("reloaded; {}", describe());
  systemd::notify_ready(fmt::format("reloaded; {}", describe()));
}

Status Supervisor::apply(Config next) {
  if (next.workers != config_.workers) {
    spdlog::warn("workers changed from {} to {}: that takes a restart; keeping {}", config_.workers,
                 next.workers, config_.workers);
    next.workers = config_.workers;
  }
  if (next.log.target != config_.log.target) {
    spdlog::warn("log.target changed: that takes a restart");
    next.log.target = config_.log.target;
  }
  // Metrics sockets are bound first and committed only once listen: has
  // applied, so a failure of either changes nothing of the metrics.
  std::vector<ListenSocket> metrics_added;
  Status metrics = update_metrics(next, metrics_added);
  if (!metrics) return metrics;
  Status listeners = update_listeners(next);
  if (!listeners) {
    for (ListenSocket& socket : metrics_added) ::close(socket.fd);
    return listeners;
  }
  commit_metrics(next, std::move(metrics_added));
  apply_log_level(next.log.level);
  // Workers swap the snapshot between callbacks: the next response on every
  // connection, kept-alive ones included, is the new one.
  auto snapshot = std::make_shared<const Snapshot>(next, connection_budget_);
  hand_out(snapshot, true);
  config_ = std::move(next);
  return Done{};
}

// New addresses are bound (and listening) before removed ones close, and
// unchanged listeners are left alone, so a reload refuses no connection.
// Connections accepted on a removed listener stay open until they end.
Status Supervisor::update_listeners(const Config& next) {
  if (socket_activated_) {
    if (next.listen != config_.listen)
      spdlog::info("socket-activated: listen: changes are ignored");
    return Done{};
  }
  const std::vector<ListenAddress> added = missing_from(next.listen, config_.listen);
  const std::vector<ListenAddress> removed = missing_from(config_.listen, next.listen);
  Result<WorkerSockets> bound = bind_listeners(added, config_.workers);
  if (!bound) return bound.error();
  for (const auto& list : bound.value()) backlog_.watch(list);
  // bind_listeners gives each worker one socket per address, in order.
  std::vector<std::string> serving;
  for (const ListenAddress& address : next.listen) {
    const auto kept = std::find(config_.listen.begin(), config_.listen.end(), address);
    if (kept != config_.listen.end()) {
      serving.push_back(serving_[static_cast<std::size_t>(kept - config_.listen.begin())]);
    } else {
      const auto index = std::find(added.begin(), added.end(), address) - added.begin();
      serving.push_back(describe_socket(bound.value().front()[static_cast<std::size_t>(index)].fd));
      spdlog::info("listening on {}", serving.back());
    }
  }
  std::vector<std::string> removed_names;
  removed_names.reserve(removed.size());
  for (const ListenAddress& address : removed) removed_names.push_back(address.to_string());
  backlog_.forget(removed_names);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto sockets = std::make_shared<std::vector<ListenSocket>>(std::move(bound.value()[i]));
    workers_[i]->post([sockets, removed_names](Worker& w) {
      w.add_listeners(std::move(*sockets));
      w.remove_listeners(removed_names);
    });
  }
  for (const ListenAddress& address : removed) {
    // A unix socket's file would otherwise outlive the listener.
    if (address.kind == ListenAddress::Kind::unix_path) ::unlink(address.path.c_str());
    spdlog::info("stopped listening on {}", address.to_string());
  }
  serving_ = std::move(serving);
  return Done{};
}

}  // namespace hellod
