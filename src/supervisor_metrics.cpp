// Supervisor's metrics and access-log wiring: the metrics listener's
// sockets (bound, inherited, moved on reload), the counter blocks and
// access-log queues handed to workers with each snapshot, and the scrape.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "supervisor.hpp"
#include "version.hpp"

namespace hellod {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The request table's shape for a configuration. Routes: pass their names
// (in the router's order) and every status they can answer with.
std::shared_ptr<const MetricsLayout> layout_for(const Config& config) {
  return std::make_shared<const MetricsLayout>(std::vector<std::string>{},
                                               std::vector<int>{config.response.status});
}

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

// One socket per address: scrapes are served by the supervisor's loop only.
Result<std::vector<ListenSocket>> Supervisor::bind_metrics(
    const std::vector<ListenAddress>& addresses) {
  Result<WorkerSockets> bound = bind_listeners(addresses, 1);
  if (!bound) return bound.error();
  return std::move(bound.value().front());
}

Status Supervisor::start_metrics(std::vector<ListenSocket> sockets) {
  server_metrics_.version = kVersion;
  server_metrics_.workers = config_.workers;
  server_metrics_.last_reload_success_seconds = now_seconds();
  metrics_listener_ =
      std::make_unique<MetricsListener>(&loop_, [this] { return render_metrics(); });
  metrics_listener_->set_path(config_.metrics.path);
  for (ListenSocket& socket : sockets) {
    const std::string address = describe_socket(socket.fd);
    Status added = metrics_listener_->add(std::move(socket));
    if (!added) return added;
    spdlog::info("metrics: serving http://{}{}{}", address, config_.metrics.path,
                 metrics_inherited_ ? " (socket-activated)" : "");
  }
  return Done{};
}

// Binds the metrics addresses the next configuration adds; nothing changes
// yet (commit_metrics does), so a failure leaves everything as it was.
Status Supervisor::update_metrics(const Config& next, std::vector<ListenSocket>& added) {
  if (metrics_inherited_) {
    if (next.metrics.listen != config_.metrics.listen)
      spdlog::info("socket-activated metrics: metrics.listen changes are ignored");
    return Done{};
  }
  Result<std::vector<ListenSocket>> bound =
      bind_metrics(missing_from(next.metrics.listen, config_.metrics.listen));
  if (!bound) return bound.error();
  added = std::move(bound.value());
  return Done{};
}

// New metrics addresses listen before removed ones close, as for listen:.
void Supervisor::commit_metrics(const Config& next, std::vector<ListenSocket> added) {
  metrics_listener_->set_path(next.metrics.path);
  for (ListenSocket& socket : added) {  // add() owns the socket from here, also on failure
    const std::string address = describe_socket(socket.fd);
    Status listening = metrics_listener_->add(std::move(socket));
    if (listening) {
      spdlog::info("metrics: serving http://{}{}", address, next.metrics.path);
    } else {
      spdlog::error("{}", listening.error().message);
    }
  }
  if (metrics_inherited_) return;
  std::vector<std::string> removed;
  for (const ListenAddress& address : missing_from(config_.metrics.listen, next.metrics.listen)) {
    removed.push_back(address.to_string());
    if (address.kind == ListenAddress::Kind::unix_path) ::unlink(address.path.c_str());
    spdlog::info("metrics: stopped listening on {}", address.to_string());
  }
  metrics_listener_->remove(removed);
}

// Gives every worker the snapshot with its counter block and access-log
// queue. Before the workers run (started false) directly, afterwards through
// post(), so the worker switches between callbacks and then retires its
// old block.
void Supervisor::hand_out(const std::shared_ptr<const Snapshot>& snapshot, bool started) {
  const std::vector<std::shared_ptr<WorkerMetrics>> blocks =
      metrics_registry_->use_layout(layout_for(snapshot->config));
  const bool logging = snapshot->config.log.access != AccessLogFormat::off;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    AccessLogQueue* queue = logging ? access_logger_->queue(static_cast<unsigned>(i)) : nullptr;
    if (!started) {
      workers_[i]->use_metrics(blocks[i]);
      workers_[i]->use_access_log(queue);
      continue;
    }
    workers_[i]->post([snapshot, block = blocks[i], queue](Worker& w) {
      w.use_snapshot(snapshot);
      w.use_metrics(block);
      w.use_access_log(queue);
    });
  }
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
  server_metrics_.draining = shutting_down_;
  server_metrics_.waiting_backlog = backlog_.waiting();
  return render_exposition(metrics_registry_->collect(), server_metrics_, read_process_metrics());
}

}  // namespace hellod
