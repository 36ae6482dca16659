// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "backlog_probe.hpp"
#include "config.hpp"
#include "listeners.hpp"
#include "result.hpp"
#include "snapshot.hpp"

namespace hellod {

// A reload between "every worker was asked to adopt it" and "every worker
// answered" (supervisor_reload.cpp). It owns the sockets bound for new
// addresses until the workers take them, so a failed reload closes them.
struct ReloadPlan {
  Config config;
  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<const Snapshot> previous;
  WorkerSockets added;  // one list per worker
  std::vector<std::string> added_names;
  std::vector<ListenAddress> removed;
  // Copies of the added sockets for the fd store, stored only once the
  // reload succeeded (closed with the plan otherwise).
  std::vector<ListenSocket> to_store;
  // Metrics addresses the reload adds, bound, listening once it applies.
  std::vector<ListenSocket> metrics_added;
  // Backlog probes of the added sockets, watched once it applies.
  BacklogProbe backlog;
  std::vector<std::string> serving;  // for STATUS= once it applies
  std::vector<bool> adopted;         // per worker
  std::size_t awaited = 0;           // worker reports still to come
  bool rolling_back = false;
  Error failure;  // the first worker's failure, if any
};

}  // namespace hellod
