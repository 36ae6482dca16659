// SPDX-License-Identifier: MIT
#include "metrics_registry.hpp"

#include <algorithm>
#include <numeric>

namespace hellod {

std::uint64_t MetricsTotals::duration_count() const {
  return std::accumulate(duration_buckets.begin(), duration_buckets.end(), std::uint64_t{0});
}

std::uint64_t MetricsTotals::closed_total() const {
  return std::accumulate(closed.begin(), closed.end(), std::uint64_t{0});
}

std::uint64_t MetricsTotals::open() const {
  const std::uint64_t closed_sum = closed_total();
  return accepted > closed_sum ? accepted - closed_sum : 0;
}

void MetricsTotals::add(const WorkerMetrics& block) {
  const MetricsLayout& layout = block.layout();
  for (std::size_t route = 0; route < layout.routes(); ++route) {
    for (std::size_t column = 0; column < layout.columns(); ++column) {
      const std::uint64_t count = block.requests(route, column);
      if (count != 0) requests[{layout.route_label(route), layout.code(column)}] += count;
    }
  }
  for (std::size_t bucket = 0; bucket < kDurationBuckets; ++bucket)
    duration_buckets[bucket] += block.duration_bucket_count(bucket);
  duration_sum_ns += block.duration_sum_ns();
  // Closed before accepted: a connection is accepted before it closes, so
  // reading in this order keeps open() from dipping below the truth.
  for (std::size_t reason = 0; reason < kCloseReasons; ++reason)
    closed[reason] += block.closed(static_cast<CloseReason>(reason));
  accepted += block.accepted();
  received_bytes += block.received_bytes();
  sent_bytes += block.sent_bytes();
  access_log_drops += block.access_log_drops();
}

void MetricsTotals::add_answered(const MetricsLayout& layout) {
  for (const auto& [row, column] : layout.answered())
    requests.try_emplace({layout.route_label(row), layout.code(column)}, 0);
}

MetricsRegistry::MetricsRegistry(unsigned workers) : workers_(workers) {}

std::shared_ptr<const MetricBlocks> MetricsRegistry::use_layout(
    const std::shared_ptr<const MetricsLayout>& layout) {
  std::shared_ptr<const MetricBlocks> in_use = current_set_.lock();
  if (in_use && current_.front()->layout() == *layout) return in_use;
  // The old blocks stay readable until their holders are gone.
  retiring_.insert(retiring_.end(), current_.begin(), current_.end());
  current_.clear();
  for (unsigned i = 0; i < workers_; ++i)
    current_.push_back(std::make_shared<WorkerMetrics>(layout));
  auto blocks = std::make_shared<const MetricBlocks>(current_);
  current_set_ = blocks;
  return blocks;
}

void MetricsRegistry::fold_retired() {
  // retired() is an acquire load paired with the worker's release store:
  // every increment the worker made before retiring is visible here.
  const auto folded = std::partition(retiring_.begin(), retiring_.end(),
                                     [](const auto& block) { return !block->retired(); });
  for (auto it = folded; it != retiring_.end(); ++it) archive_.add(**it);
  retiring_.erase(folded, retiring_.end());
}

MetricsTotals MetricsRegistry::collect() {
  fold_retired();
  MetricsTotals totals = archive_;
  for (const auto& block : retiring_) totals.add(*block);
  for (const auto& block : current_) totals.add(*block);
  if (!current_.empty()) totals.add_answered(current_.front()->layout());
  return totals;
}

}  // namespace hellod
