// SPDX-License-Identifier: MIT
#pragma once

// The supervisor's side of the per-worker counters: hands out one block per
// worker for each configuration, keeps the blocks a reload retired until
// their workers have moved on, then folds them into cumulative totals keyed
// by label values, so a counter never goes down when routes change.
//
// Used on the supervisor's thread only (reload and scrape both run on its
// loop): nothing here is locked. Workers touch only their own blocks.

#include <array>
#include <cassert>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metrics.hpp"

namespace hellod {

// Everything the blocks counted, summed over workers and configurations.
struct MetricsTotals {
  // (route label, status code; 0 = overflow) -> requests: the ones that
  // counted something, and those the configuration in force answers with.
  std::map<std::pair<std::string, int>, std::uint64_t> requests;
  std::array<std::uint64_t, kDurationBuckets> duration_buckets{};  // not cumulative
  std::uint64_t duration_sum_ns = 0;
  std::uint64_t accepted = 0;
  std::array<std::uint64_t, kCloseReasons> closed{};
  std::uint64_t received_bytes = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t access_log_drops = 0;

  [[nodiscard]] std::uint64_t duration_count() const;
  [[nodiscard]] std::uint64_t closed_total() const;
  // accepted minus closed; never negative, although a scrape may read one
  // worker's counters a few increments apart.
  [[nodiscard]] std::uint64_t open() const;
  void add(const WorkerMetrics& block);
  // The layout's answered series, at 0 when nothing counted them yet: as
  // Prometheus advises for known label values, rate() and absent() then
  // see a route's 503s from the first scrape, not from the first 503.
  void add_answered(const MetricsLayout& layout);
};

// One configuration's counter blocks, one per worker, held by the
// snapshots that use them. The last snapshot to go (its workers have all
// moved to another configuration, or the reload that built it was rolled
// back) retires the blocks: the shared_ptr release orders every increment
// before retire()'s release store, so the registry may fold them.
class MetricBlocks {
 public:
  explicit MetricBlocks(std::vector<std::shared_ptr<WorkerMetrics>> blocks)
      : blocks_(std::move(blocks)) {}
  MetricBlocks(const MetricBlocks&) = delete;
  MetricBlocks& operator=(const MetricBlocks&) = delete;
  ~MetricBlocks() {
    for (const auto& block : blocks_) block->retire();
  }

  [[nodiscard]] WorkerMetrics& of(unsigned worker) const {
    assert(worker < blocks_.size());
    return *blocks_[worker];
  }

 private:
  std::vector<std::shared_ptr<WorkerMetrics>> blocks_;
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(unsigned workers);

  // The blocks for a configuration with this layout, one per worker. While
  // the current blocks are in use and have the same layout they are shared
  // (a reload that changes no route keeps counting where it was); otherwise
  // new ones are made and the current ones wait, still read live, until
  // they are retired.
  std::shared_ptr<const MetricBlocks> use_layout(
      const std::shared_ptr<const MetricsLayout>& layout);

  [[nodiscard]] const std::vector<std::shared_ptr<WorkerMetrics>>& current() const {
    return current_;
  }

  // The totals now: the archive plus every block still live. Retired blocks
  // whose worker has moved on are folded into the archive first.
  MetricsTotals collect();

  // Blocks replaced but not yet acknowledged by their worker (tests).
  [[nodiscard]] std::size_t retiring() const { return retiring_.size(); }

 private:
  void fold_retired();

  unsigned workers_;
  std::vector<std::shared_ptr<WorkerMetrics>> current_;
  std::weak_ptr<const MetricBlocks> current_set_;  // the holder of current_
  std::vector<std::shared_ptr<WorkerMetrics>> retiring_;
  MetricsTotals archive_;
};

}  // namespace hellod
