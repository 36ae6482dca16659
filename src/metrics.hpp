// SPDX-License-Identifier: MIT
#pragma once

// Per-worker request and connection counters for the Prometheus exposition.
//
// Each worker counts into a WorkerMetrics block of its own that only it
// writes: an increment is a relaxed load and a relaxed store of the value
// plus one, never a locked read-modify-write, never a lock, so counting costs
// a few plain moves and no cache line is shared between workers. The
// supervisor reads the blocks from its own thread with relaxed loads (a
// scrape may see one worker's counters a few increments apart, never a torn
// or decreasing value), which keeps ThreadSanitizer content.
//
// Routes change on reload, so the (route, status) table's shape belongs to
// an immutable MetricsLayout shared by the blocks of one configuration; the
// registry (metrics_registry.hpp) folds a block whose worker has moved to a
// new layout into totals keyed by label values, so no counter ever goes down.

#include <array>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hellod {

// Why a connection ended; the label of hellod_connections_closed_total.
enum class CloseReason : unsigned char {
  client,              // the client closed, reset, or asked for Connection: close
  header_timeout,      // timeouts.header passed before a complete request head (or body)
  keepalive_timeout,   // timeouts.keepalive passed on an idle connection
  send_timeout,        // timeouts.send passed while a response was draining
  keepalive_requests,  // limits.keepalive_requests answered on one connection
  bad_request,         // hellod answered a malformed request (4xx/5xx) and closed
  error,               // a socket error on our side
  shutdown,            // hellod stopped (or drained) while the connection was open
};
inline constexpr std::size_t kCloseReasons = 8;
std::string_view close_reason_label(CloseReason reason);

// Upper bounds of hellod_http_request_duration_seconds, in nanoseconds:
// answering from memory takes microseconds, a slow client or a loaded box
// milliseconds, so the buckets run 25us ... 1s; +Inf is implicit.
inline constexpr std::array<std::uint64_t, 15> kDurationBoundsNs{
    25'000,     50'000,      100'000,     250'000,     500'000,
    1'000'000,  2'500'000,   5'000'000,   10'000'000,  25'000'000,
    50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000};
inline constexpr std::size_t kDurationBuckets = kDurationBoundsNs.size() + 1;

// The status codes hellod sends itself, whatever the configuration says.
// 100 Continue is interim (RFC 9110 §15.2): the request it belongs to is
// counted once, with its final status, so 100 is not among them.
inline constexpr std::array<int, 8> kOwnStatuses{400, 408, 413, 414, 417, 431, 501, 505};

// The label of requests that matched no route (malformed ones, or none of
// the routes): empty, which no route name can be, and which PromQL treats
// as an absent label.
inline constexpr std::string_view kUnroutedLabel;
// The only route when the configuration has no routes.
inline constexpr std::string_view kDefaultRoute = "default";

// The shape of one configuration's request table: rows are routes, columns
// are status codes. Immutable once built; shared by every worker's block.
class MetricsLayout {
 public:
  // route_names empty: the single route "default", which also takes the
  // unrouted requests. Otherwise the routes in the order the router numbers
  // them, plus one unrouted row (unrouted()). statuses: the configured ones;
  // kOwnStatuses are added, duplicates and order do not matter. answered, by
  // row (at most routes() of them): the statuses each row answers with,
  // whose series are exported at 0 before they count anything.
  MetricsLayout(std::vector<std::string> route_names, const std::vector<int>& statuses,
                const std::vector<std::vector<int>>& answered = {});

  [[nodiscard]] std::size_t routes() const { return route_labels_.size(); }
  [[nodiscard]] std::size_t columns() const { return codes_.size() + 1; }
  // The row of requests that matched no route.
  [[nodiscard]] std::uint32_t unrouted() const { return unrouted_; }
  [[nodiscard]] const std::string& route_label(std::size_t row) const { return route_labels_[row]; }
  // The code of a column; 0 for the overflow column (a status the layout
  // was not told about: a bug, counted rather than lost, exported as "other").
  [[nodiscard]] int code(std::size_t column) const {
    return column < codes_.size() ? codes_[column] : 0;
  }
  [[nodiscard]] std::uint16_t column(int status) const {
    const auto index = static_cast<unsigned>(status - kFirstStatus);
    return index < column_of_.size() ? column_of_[index] : overflow_;
  }
  // The (row, column) cells of the answered statuses, sorted.
  [[nodiscard]] const std::vector<std::pair<std::uint32_t, std::uint16_t>>& answered() const {
    return answered_;
  }
  bool operator==(const MetricsLayout& other) const {
    return route_labels_ == other.route_labels_ && codes_ == other.codes_ &&
           answered_ == other.answered_;
  }

 private:
  static constexpr int kFirstStatus = 100;
  std::vector<std::string> route_labels_;
  std::vector<int> codes_;                      // sorted, unique
  std::array<std::uint16_t, 500> column_of_{};  // status - 100 -> column
  std::uint16_t overflow_ = 0;
  std::uint32_t unrouted_ = 0;
  std::vector<std::pair<std::uint32_t, std::uint16_t>> answered_;
};

// A counter that one thread writes and others read.
using MetricCounter = std::atomic<std::uint64_t>;

// Only the owning worker writes, so load+store is exact and needs no
// locked instruction; readers see some recent value.
inline void add_to(MetricCounter& counter, std::uint64_t amount) {
  counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}

// The bounds padded to 16 with a sentinel no duration exceeds, for the
// four-step search below.
inline constexpr std::array<std::uint64_t, 16> kDurationSearch = [] {
  std::array<std::uint64_t, 16> bounds{};
  for (std::size_t i = 0; i < kDurationBoundsNs.size(); ++i) bounds[i] = kDurationBoundsNs[i];
  bounds[15] = ~std::uint64_t{0};
  return bounds;
}();
static_assert(kDurationBoundsNs.size() == 15, "the search covers 15 bounds and a sentinel");

// The bucket index of a duration: how many upper bounds it exceeds (a
// bucket's bound is inclusive, as Prometheus' "le" says); 15 is +Inf. A
// branch-free binary search: four compares instead of fifteen.
inline std::size_t duration_bucket(std::uint64_t duration_ns) {
  std::size_t index = 0;
  for (std::size_t step = 8; step > 0; step /= 2)
    index += kDurationSearch[index + step - 1] < duration_ns ? step : 0;
  return index;
}

// One worker's counters for one layout. Written only by that worker (the
// hot-path methods below), read by the registry on the supervisor thread.
class alignas(64) WorkerMetrics {
 public:
  explicit WorkerMetrics(std::shared_ptr<const MetricsLayout> layout);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;
  ~WorkerMetrics();

  // --- hot path: the owning worker's thread only; inline, no allocation ---

  // One request answered with its final status. route: a row of this
  // block's layout (Snapshot and block change together, between callbacks).
  void count_status(std::uint32_t route, int status) {
    assert(route < rows_);
    // A row from another layout would write out of bounds: count it as
    // unrouted instead (a conditional move, not a branch).
    route = route < rows_ ? route : layout_->unrouted();
    add_to(requests_[(route * columns_) + layout_->column(status)], 1);
  }
  // count responses handed to the kernel together, each duration_ns after
  // the end of its request head (pipelined requests share one write, so
  // the bucket is found once per write, not per request).
  void observe_durations(std::uint64_t duration_ns, std::uint64_t count) {
    add_to(duration_buckets_[duration_bucket(duration_ns)], count);
    add_to(duration_sum_ns_, duration_ns * count);
  }
  // Both for one request.
  void count_request(std::uint32_t route, int status, std::uint64_t duration_ns) {
    count_status(route, status);
    observe_durations(duration_ns, 1);
  }
  void count_accepted() { add_to(accepted_, 1); }
  void count_closed(CloseReason reason) { add_to(closed_[static_cast<std::size_t>(reason)], 1); }
  void count_received(std::uint64_t bytes) { add_to(received_bytes_, bytes); }
  void count_sent(std::uint64_t bytes) { add_to(sent_bytes_, bytes); }
  void count_access_log_drop() { add_to(access_log_drops_, 1); }

  // The worker calls this once it has switched to its next block: from then
  // on the block no longer changes and the registry may fold it away.
  void retire() { retired_.store(true, std::memory_order_release); }

  // --- readers (any thread) ---
  [[nodiscard]] bool retired() const { return retired_.load(std::memory_order_acquire); }
  [[nodiscard]] const MetricsLayout& layout() const { return *layout_; }
  [[nodiscard]] const std::shared_ptr<const MetricsLayout>& shared_layout() const {
    return layout_;
  }
  [[nodiscard]] std::uint64_t requests(std::size_t route, std::size_t column) const {
    return requests_[(route * columns_) + column].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t duration_bucket_count(std::size_t bucket) const {
    return duration_buckets_[bucket].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t duration_sum_ns() const { return load(duration_sum_ns_); }
  [[nodiscard]] std::uint64_t accepted() const { return load(accepted_); }
  [[nodiscard]] std::uint64_t closed(CloseReason reason) const {
    return load(closed_[static_cast<std::size_t>(reason)]);
  }
  [[nodiscard]] std::uint64_t received_bytes() const { return load(received_bytes_); }
  [[nodiscard]] std::uint64_t sent_bytes() const { return load(sent_bytes_); }
  [[nodiscard]] std::uint64_t access_log_drops() const { return load(access_log_drops_); }

 private:
  static std::uint64_t load(const MetricCounter& counter) {
    return counter.load(std::memory_order_relaxed);
  }

  std::shared_ptr<const MetricsLayout> layout_;
  std::uint32_t rows_;
  std::size_t columns_;
  MetricCounter* requests_;  // routes x columns, on cache lines of its own
  std::array<MetricCounter, kDurationBuckets> duration_buckets_{};
  MetricCounter duration_sum_ns_{0};
  MetricCounter accepted_{0};
  std::array<MetricCounter, kCloseReasons> closed_{};
  MetricCounter received_bytes_{0};
  MetricCounter sent_bytes_{0};
  MetricCounter access_log_drops_{0};
  // Written once, by the worker, when it moves on; on its own line.
  alignas(64) std::atomic<bool> retired_{false};
};

}  // namespace hellod
