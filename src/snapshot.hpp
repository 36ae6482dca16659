// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <limits>
#include <memory>

#include "config.hpp"
#include "metrics_registry.hpp"
#include "request_parser.hpp"
#include "response.hpp"
#include "route_table.hpp"

namespace hellod {

// An immutable configuration as workers serve it: built and validated on the
// main thread, shared by every worker, swapped between callbacks on reload.
struct Snapshot {
  Config config;
  ResponseSet responses;  // Date as of the build; each worker keeps a copy it re-dates
  RouteTable routes;
  // The request fields routing and the access log need collected.
  FieldMask captures;
  RequestLimits request_limits;
  // limits.max_connections, or fewer when the open-file limit has no room
  // for that many: past it clients wait in the kernel backlog.
  std::uint32_t connection_limit;
  // Each worker's counters for this configuration (metrics_registry.hpp);
  // null outside the supervisor (tests, the fuzzer): a worker then counts
  // into a block of its own.
  std::shared_ptr<const MetricBlocks> metrics;

  explicit Snapshot(Config validated,
                    std::uint32_t descriptor_budget = std::numeric_limits<std::uint32_t>::max(),
                    std::shared_ptr<const MetricBlocks> metric_blocks = nullptr);
};

}  // namespace hellod
