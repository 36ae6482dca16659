// SPDX-License-Identifier: MIT
// Supervisor's SIGHUP path: re-read, validate, bind what is new, then switch
// every worker to the new configuration without refusing or dropping a
// client, and tell the service manager only once every worker serves it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <exception>
#include <new>

#include "log.hpp"
#include "supervisor.hpp"
#include "systemd.hpp"

namespace hellod {
namespace {

std::vector<std::string> names_of(const std::vector<ListenAddress>& addresses) {
  std::vector<std::string> names;
  names.reserve(addresses.size());
  for (const ListenAddress& address : addresses) names.push_back(address.to_string());
  return names;
}

}  // namespace

// SIGHUP: the new config is read, validated and its new listeners bound
// completely before any worker changes; an invalid one changes nothing.
// RELOADING=1 is always followed by READY=1, also on failure and whatever is
// thrown, or systemd 253+ would wait for the reload until it times out
// (sd_notify(3), "RELOADING=1").
void Supervisor::reload() {
  if (stop_ != Stop::serving) return;  // what stops now serves what it has
  if (reload_ != nullptr) {
    reload_again_ = true;  // one reload at a time; this one reads the file afterwards
    return;
  }
  systemd::notify_reloading();
  try {
    begin_reload();
  } catch (const std::bad_alloc&) {
    die_out_of_memory("reloading");
  } catch (const std::exception& error) {
    reload_.reset();
    finish_reload(Error{error.what()});
  }
}

void Supervisor::begin_reload() {
  spdlog::info("reloading {}", config_origin(source_));
  Result<Config> loaded = load_config(source_);
  if (!loaded) return finish_reload(loaded.error());
  Result<std::unique_ptr<ReloadPlan>> prepared = prepare(std::move(loaded.value()));
  if (!prepared) return finish_reload(prepared.error());
  reload_ = std::move(prepared.value());
  post_adopt();
}

// Everything that can fail without touching a worker: settings that need a
// restart are kept, new addresses are bound (and closed again if anything
// later fails, since the sockets are owned here until a worker takes them).
Result<std::unique_ptr<ReloadPlan>> Supervisor::prepare(Config next) {
  if (next.workers != config_.workers) {
    spdlog::warn("workers changed from {} to {}: that takes a restart; keeping {}", config_.workers,
                 next.workers, config_.workers);
    next.workers = config_.workers;
  }
  if (next.log.target != config_.log.target) {
    spdlog::warn("log.target changed: that takes a restart");
    next.log.target = config_.log.target;
  }
  auto reload = std::make_unique<ReloadPlan>();
  if (socket_activated_) {
    if (next.listen != config_.listen)
      spdlog::info("socket-activated: listen: changes are ignored");
    reload->added.resize(workers_.size());
    reload->serving = serving_;
  } else {
    const std::vector<ListenAddress> added = missing_from(next.listen, config_.listen);
    Result<WorkerSockets> bound = bind_listeners(added, config_.workers);
    if (!bound) return bound.error();
    if (store_enabled_) {
      Result<std::vector<ListenSocket>> copies = copies_to_store(bound.value());
      if (!copies) return copies.error();
      reload->to_store = std::move(copies.value());
    }
    reload->backlog.watch(bound.value());
    reload->added = std::move(bound.value());
    reload->added_names = names_of(added);
    reload->removed = missing_from(config_.listen, next.listen);
    // bind_listeners gives each worker one socket per address, in order.
    for (const ListenAddress& address : next.listen) {
      const auto kept = std::find(config_.listen.begin(), config_.listen.end(), address);
      if (kept != config_.listen.end()) {
        reload->serving.push_back(
            serving_[static_cast<std::size_t>(kept - config_.listen.begin())]);
      } else {
        const auto index = std::find(added.begin(), added.end(), address) - added.begin();
        reload->serving.push_back(
            describe_socket(reload->added.front()[static_cast<std::size_t>(index)].fd.get()));
      }
    }
  }
  if (Status metrics = prepare_metrics(next, *reload); !metrics) return metrics.error();
  reload->snapshot = make_snapshot(next);
  reload->previous = snapshot_;
  reload->config = std::move(next);
  reload->adopted.assign(workers_.size(), false);
  return reload;
}

void Supervisor::post_adopt() {
  ReloadPlan& reload = *reload_;
  reload.awaited = workers_.size();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto sockets = std::make_shared<std::vector<ListenSocket>>(std::move(reload.added[i]));
    const auto index = static_cast<unsigned>(i);
    const bool posted =
        workers_[i]->post([this, index, sockets, snapshot = reload.snapshot](Worker& worker) {
          Status status = Error{"no answer"};
          try {
            status = worker.adopt(snapshot, std::move(*sockets));
          } catch (const std::exception& error) {
            status = Error{error.what()};
          }
          report(index, std::move(status));
        });
    if (!posted) report(index, Error{fmt::format("worker {} has stopped", index)});
  }
}

// Any thread: a worker's answer to the reload in progress.
void Supervisor::report(unsigned worker, Status status) {
  {
    std::lock_guard lock(reports_mutex_);
    reports_.emplace_back(worker, std::move(status));
  }
  static_cast<void>(uv_async_send(&worker_reported_));
}

void Supervisor::on_worker_reports() {
  std::vector<std::pair<unsigned, Status>> reports;
  {
    std::lock_guard lock(reports_mutex_);
    reports.swap(reports_);
  }
  if (reload_ == nullptr) return;
  ReloadPlan& reload = *reload_;
  for (auto& [worker, status] : reports) {
    assert(reload.awaited > 0);
    --reload.awaited;
    if (reload.rolling_back) continue;
    if (status) {
      reload.adopted[worker] = true;
    } else if (reload.failure.message.empty()) {
      reload.failure = status.error();
    }
  }
  if (reload.awaited == 0) settle_reload();
}

// Every worker answered: commit, or put back the ones that adopted it.
void Supervisor::settle_reload() {
  ReloadPlan& reload = *reload_;
  if (reload.rolling_back) return finish_reload(reload.failure);
  if (!reload.failure.message.empty()) {
    reload.rolling_back = true;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (!reload.adopted[i]) continue;
      ++reload.awaited;
      const auto index = static_cast<unsigned>(i);
      const bool posted = workers_[i]->post(
          [this, index, previous = reload.previous, names = reload.added_names](Worker& worker) {
            worker.restore(previous, names);
            report(index, Done{});
          });
      if (!posted) report(index, Done{});
    }
    if (reload.awaited == 0) finish_reload(reload.failure);
    return;
  }
  const std::vector<std::string> removed = names_of(reload.removed);
  for (auto& worker : workers_) {
    worker->post([removed](Worker& w) { w.remove_listeners(removed); });
  }
  // The store follows what is served: the new sockets in, the removed out.
  remove_from_store(reload.removed);
  keep_in_store(std::move(reload.to_store));
  backlog_.forget(removed);
  backlog_.take(std::move(reload.backlog));
  commit_metrics(reload.config, std::move(reload.metrics_added));
  for (const ListenAddress& address : reload.removed) {
    // A unix socket's file would otherwise outlive the listener.
    if (address.kind == ListenAddress::Kind::unix_path) ::unlink(address.path.c_str());
    spdlog::info("stopped listening on {}", address.to_string());
  }
  for (std::size_t i = 0; i < reload.serving.size(); ++i) {
    if (std::find(serving_.begin(), serving_.end(), reload.serving[i]) == serving_.end()) {
      spdlog::info("listening on {}", reload.serving[i]);
    }
  }
  apply_log_level(reload.config.log.level);
  serving_ = std::move(reload.serving);
  config_ = std::move(reload.config);
  snapshot_ = std::move(reload.snapshot);
  finish_reload(Done{});
}

void Supervisor::finish_reload(const Status& outcome) {
  reload_.reset();
  count_reload(outcome.ok());
  if (!outcome) {
    spdlog::error("reload failed, still serving the previous configuration: {}",
                  outcome.error().message);
    systemd::notify_ready(
        fmt::format("reload failed: {}; {}", outcome.error().message, describe()));
  } else {
    spdlog::info("reloaded; {}", describe());
    systemd::notify_ready(fmt::format("reloaded; {}", describe()));
  }
  if (std::exchange(reload_again_, false)) reload();
}

}  // namespace hellod
