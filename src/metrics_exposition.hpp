// SPDX-License-Identifier: MIT
#pragma once

// The Prometheus exposition: the scrape-time values of every hellod metric
// as prometheus-cpp MetricFamily values, rendered by its TextSerializer
// (text format 0.0.4). Names follow the Prometheus naming guide: base units
// (seconds, bytes), _total on counters, no path, host or client labels.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "metrics_registry.hpp"
#include "process_metrics.hpp"

namespace hellod {

inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// What the supervisor knows about itself at scrape time.
struct ServerMetrics {
  std::string version;
  unsigned workers = 0;
  bool draining = false;
  std::uint64_t reloads_succeeded = 0;
  std::uint64_t reloads_failed = 0;
  bool last_reload_successful = true;            // the start counts as a successful load
  double last_reload_success_seconds = 0;        // since the epoch; the start, until a reload
  std::optional<std::uint64_t> waiting_backlog;  // nothing when no TCP listener is probed
  std::uint64_t log_lines_dropped = 0;           // hellod's own, not the access log's
};

std::string render_exposition(const MetricsTotals& totals, const ServerMetrics& server,
                              const ProcessMetrics& process);

}  // namespace hellod
