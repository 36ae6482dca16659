// SPDX-License-Identifier: MIT
#include "metrics.hpp"

#include <algorithm>
#include <cassert>
#include <new>

namespace hellod {
namespace {

constexpr std::size_t kCacheLine = 64;
constexpr std::size_t kCountersPerLine = kCacheLine / sizeof(MetricCounter);

// The request table on whole cache lines of its own, so no other
// allocation (another worker's block) shares a line with it.
MetricCounter* allocate_counters(std::size_t count) {
  const std::size_t rounded = (count + kCountersPerLine - 1) / kCountersPerLine * kCountersPerLine;
  void* raw = ::operator new (rounded * sizeof(MetricCounter), std::align_val_t{kCacheLine});
  auto* counters = static_cast<MetricCounter*>(raw);
  for (std::size_t i = 0; i < rounded; ++i) new (&counters[i]) MetricCounter(0);
  return counters;
}

}  // namespace

std::string_view close_reason_label(CloseReason reason) {
  switch (reason) {
    case CloseReason::client:
      return "client";
    case CloseReason::header_timeout:
      return "header_timeout";
    case CloseReason::keepalive_timeout:
      return "keepalive_timeout";
    case CloseReason::send_timeout:
      return "send_timeout";
    case CloseReason::keepalive_requests:
      return "keepalive_requests";
    case CloseReason::bad_request:
      return "bad_request";
    case CloseReason::error:
      return "error";
    case CloseReason::shutdown:
      return "shutdown";
  }
  return "error";
}

MetricsLayout::MetricsLayout(std::vector<std::string> route_names, const std::vector<int>& statuses,
                             const std::vector<std::vector<int>>& answered) {
  if (route_names.empty()) {
    route_labels_.emplace_back(kDefaultRoute);
    unrouted_ = 0;
  } else {
    route_labels_ = std::move(route_names);
    unrouted_ = static_cast<std::uint32_t>(route_labels_.size());
    route_labels_.emplace_back(kUnroutedLabel);
  }
  assert(answered.size() <= route_labels_.size());
  codes_.assign(kOwnStatuses.begin(), kOwnStatuses.end());
  const auto add_code = [this](int status) {
    if (status >= kFirstStatus && status < kFirstStatus + static_cast<int>(column_of_.size()))
      codes_.push_back(status);
  };
  std::for_each(statuses.begin(), statuses.end(), add_code);
  for (const std::vector<int>& row : answered) std::for_each(row.begin(), row.end(), add_code);
  std::sort(codes_.begin(), codes_.end());
  codes_.erase(std::unique(codes_.begin(), codes_.end()), codes_.end());
  overflow_ = static_cast<std::uint16_t>(codes_.size());
  column_of_.fill(overflow_);
  for (std::size_t column = 0; column < codes_.size(); ++column)
    column_of_[static_cast<std::size_t>(codes_[column] - kFirstStatus)] =
        static_cast<std::uint16_t>(column);
  for (std::uint32_t row = 0; row < answered.size(); ++row) {
    for (const int status : answered[row]) {
      const std::uint16_t cell_column = column(status);
      if (cell_column != overflow_) answered_.emplace_back(row, cell_column);
    }
  }
  std::sort(answered_.begin(), answered_.end());
  answered_.erase(std::unique(answered_.begin(), answered_.end()), answered_.end());
}

WorkerMetrics::WorkerMetrics(std::shared_ptr<const MetricsLayout> layout)
    : layout_(std::move(layout)),
      rows_(static_cast<std::uint32_t>(layout_->routes())),
      columns_(layout_->columns()),
      requests_(allocate_counters(layout_->routes() * columns_)) {}

WorkerMetrics::~WorkerMetrics() {
  // MetricCounter is trivially destructible: only the storage goes back.
  ::operator delete (static_cast<void*>(requests_), std::align_val_t{kCacheLine});
}

}  // namespace hellod
