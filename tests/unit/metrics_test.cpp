// SPDX-License-Identifier: MIT
// Per-worker counter blocks and the registry that folds retired ones.
#include "metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "metrics_registry.hpp"

namespace hellod {
namespace {

std::shared_ptr<const MetricsLayout> layout(std::vector<std::string> routes,
                                            std::vector<int> statuses) {
  return std::make_shared<const MetricsLayout>(std::move(routes), statuses);
}

std::uint64_t requests(const MetricsTotals& totals, const std::string& route, int code) {
  const auto found = totals.requests.find({route, code});
  return found == totals.requests.end() ? 0 : found->second;
}

TEST(MetricsLayout, DefaultRouteTakesEverything) {
  const MetricsLayout l({}, {200});
  ASSERT_EQ(l.routes(), 1U);
  EXPECT_EQ(l.route_label(0), "default");
  EXPECT_EQ(l.unrouted(), 0U);
}

TEST(MetricsLayout, RoutesGetAnUnroutedRow) {
  const MetricsLayout l({"health", "api"}, {200, 503});
  ASSERT_EQ(l.routes(), 3U);
  EXPECT_EQ(l.route_label(0), "health");
  EXPECT_EQ(l.route_label(1), "api");
  EXPECT_EQ(l.unrouted(), 2U);
  EXPECT_EQ(l.route_label(2), "");
}

TEST(MetricsLayout, ColumnsAreConfiguredAndOwnStatuses) {
  const MetricsLayout l({}, {503, 200, 200, 404});
  // 200, 400, 404, 408, 413, 414, 417, 431, 501, 503, 505, plus overflow.
  EXPECT_EQ(l.columns(), 12U);
  for (const int status : {200, 400, 404, 408, 413, 414, 417, 431, 501, 503, 505}) {
    EXPECT_EQ(l.code(l.column(status)), status) << status;
  }
  // 100 Continue is interim and never counted; unknown statuses overflow.
  for (const int status : {100, 201, 599, 600, 99, -1, 0}) {
    EXPECT_EQ(l.code(l.column(status)), 0) << status;
  }
}

TEST(MetricsLayout, EqualityIsLabelsAndCodes) {
  EXPECT_EQ(MetricsLayout({}, {200}), MetricsLayout({}, {200, 400}));  // 400 is hellod's own
  EXPECT_FALSE(MetricsLayout({}, {200}) == MetricsLayout({}, {204}));
  EXPECT_FALSE(MetricsLayout({"a"}, {200}) == MetricsLayout({"b"}, {200}));
}

TEST(MetricsLayout, AnsweredCellsAreByRow) {
  const MetricsLayout l({"health", "api"}, {}, {{200, 503}, {201}, {200, 400, 400}});
  using Cell = std::pair<std::uint32_t, std::uint16_t>;
  const std::vector<Cell> expected{{0, l.column(200)},
                                   {0, l.column(503)},
                                   {1, l.column(201)},
                                   {2, l.column(200)},
                                   {2, l.column(400)}};
  std::vector<Cell> sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(l.answered(), sorted);
  EXPECT_EQ(l.code(l.column(201)), 201);  // an answered status gets its column
  // Same labels and codes, another answer: another layout (a reload that
  // moves health.path must re-seed its 503).
  EXPECT_FALSE(l == MetricsLayout({"health", "api"}, {}, {{200}, {201, 503}, {200, 400}}));
}

TEST(MetricsBlock, IsCacheLineAligned) {
  EXPECT_EQ(alignof(WorkerMetrics), 64U);
  EXPECT_EQ(sizeof(WorkerMetrics) % 64, 0U);
  const auto block = std::make_shared<WorkerMetrics>(layout({}, {200}));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block.get()) % 64, 0U);
}

TEST(MetricsBlock, DurationBuckets) {
  EXPECT_EQ(duration_bucket(0), 0U);
  EXPECT_EQ(duration_bucket(25'000), 0U);  // "le": the bound is inclusive
  EXPECT_EQ(duration_bucket(25'001), 1U);
  EXPECT_EQ(duration_bucket(1'000'000'000), kDurationBoundsNs.size() - 1);
  EXPECT_EQ(duration_bucket(1'000'000'001), kDurationBoundsNs.size());  // +Inf
}

// The four-step search agrees with the definition (how many bounds the
// duration exceeds) around every bound and at the extremes.
TEST(MetricsBlock, DurationBucketSearchMatchesTheDefinition) {
  const auto exceeded = [](std::uint64_t duration) {
    std::size_t count = 0;
    for (const std::uint64_t bound : kDurationBoundsNs) count += duration > bound ? 1U : 0U;
    return count;
  };
  for (const std::uint64_t bound : kDurationBoundsNs) {
    for (const std::uint64_t duration : {bound - 1, bound, bound + 1})
      EXPECT_EQ(duration_bucket(duration), exceeded(duration)) << duration;
  }
  EXPECT_EQ(duration_bucket(0), 0U);
  EXPECT_EQ(duration_bucket(~std::uint64_t{0}), kDurationBuckets - 1);
}

TEST(MetricsBlock, CountsEverything) {
  WorkerMetrics block(layout({}, {200}));
  block.count_request(0, 200, 10'000);
  block.count_request(0, 200, 30'000);
  block.count_request(0, 431, 2'000'000'000);
  block.count_request(0, 299, 1);  // not in the layout: the overflow column
  block.count_accepted();
  block.count_closed(CloseReason::keepalive_timeout);
  block.count_received(100);
  block.count_sent(250);
  block.count_access_log_drop();
  MetricsTotals totals;
  totals.add(block);
  EXPECT_EQ(requests(totals, "default", 200), 2U);
  EXPECT_EQ(requests(totals, "default", 431), 1U);
  EXPECT_EQ(requests(totals, "default", 0), 1U);
  EXPECT_EQ(totals.requests.size(), 3U);  // only non-zero series
  EXPECT_EQ(totals.duration_buckets[0], 2U);
  EXPECT_EQ(totals.duration_buckets[1], 1U);
  EXPECT_EQ(totals.duration_buckets[kDurationBuckets - 1], 1U);
  EXPECT_EQ(totals.duration_count(), 4U);
  EXPECT_EQ(totals.duration_sum_ns, 2'000'040'001U);
  EXPECT_EQ(totals.accepted, 1U);
  EXPECT_EQ(totals.closed[static_cast<std::size_t>(CloseReason::keepalive_timeout)], 1U);
  EXPECT_EQ(totals.open(), 0U);
  EXPECT_EQ(totals.received_bytes, 100U);
  EXPECT_EQ(totals.sent_bytes, 250U);
  EXPECT_EQ(totals.access_log_drops, 1U);
}

TEST(MetricsRegistry, SameLayoutKeepsTheBlocks) {
  MetricsRegistry registry(2);
  const auto first = registry.use_layout(layout({}, {200}));
  const auto second = registry.use_layout(layout({}, {200}));
  EXPECT_EQ(first, second);
  EXPECT_EQ(registry.retiring(), 0U);
}

// Blocks nobody holds any more are not handed out again, even for an equal
// layout: they were retired when their last holder went.
TEST(MetricsRegistry, ReleasedBlocksAreNotReused) {
  MetricsRegistry registry(1);
  auto first = registry.use_layout(layout({}, {200}));
  first->of(0).count_request(0, 200, 1);
  first.reset();
  const auto second = registry.use_layout(layout({}, {200}));
  second->of(0).count_request(0, 200, 1);
  EXPECT_EQ(requests(registry.collect(), "default", 200), 2U);
  EXPECT_EQ(registry.retiring(), 0U);
}

// A reload renames a route: its counts stay under the old label, the
// totals never go down, and the retired block is folded only once no
// snapshot holds it any more.
TEST(MetricsRegistry, RetiredBlocksAreFoldedOnceReleased) {
  MetricsRegistry registry(1);
  auto old_blocks = registry.use_layout(layout({"a", "b"}, {200}));
  WorkerMetrics& old_block = old_blocks->of(0);
  old_block.count_request(0, 200, 1);
  old_block.count_request(1, 200, 1);
  old_block.count_accepted();
  auto new_blocks = registry.use_layout(layout({"a", "c"}, {200}));
  EXPECT_EQ(registry.retiring(), 1U);
  // Still held by a snapshot: read live, and still written.
  old_block.count_request(1, 200, 1);
  MetricsTotals totals = registry.collect();
  EXPECT_EQ(registry.retiring(), 1U);
  EXPECT_EQ(requests(totals, "b", 200), 2U);
  // The worker switches and retires the old block.
  new_blocks->of(0).count_request(0, 200, 1);
  new_blocks->of(0).count_request(1, 200, 1);
  new_blocks->of(0).count_closed(CloseReason::client);
  old_blocks.reset();  // the last snapshot of the old configuration is gone
  totals = registry.collect();
  EXPECT_EQ(registry.retiring(), 0U);
  EXPECT_EQ(requests(totals, "a", 200), 2U);
  EXPECT_EQ(requests(totals, "b", 200), 2U);
  EXPECT_EQ(requests(totals, "c", 200), 1U);
  EXPECT_EQ(totals.accepted, 1U);
  EXPECT_EQ(totals.open(), 0U);
  EXPECT_EQ(registry.collect().requests, totals.requests);
}

// The series the configuration in force answers with are there at 0 before
// they count; a renamed route's are not seeded again (only what it counted stays).
TEST(MetricsRegistry, CollectSeedsTheAnsweredSeries) {
  MetricsRegistry registry(1);
  auto old_blocks = registry.use_layout(
      std::make_shared<const MetricsLayout>(std::vector<std::string>{"a", "b"}, std::vector<int>{},
                                            std::vector<std::vector<int>>{{200}, {503}, {400}}));
  old_blocks->of(0).count_request(0, 200, 1);
  MetricsTotals totals = registry.collect();
  const std::map<std::pair<std::string, int>, std::uint64_t> before{
      {{"a", 200}, 1}, {{"b", 503}, 0}, {{"", 400}, 0}};
  EXPECT_EQ(totals.requests, before);
  const auto new_blocks = registry.use_layout(
      std::make_shared<const MetricsLayout>(std::vector<std::string>{"a", "c"}, std::vector<int>{},
                                            std::vector<std::vector<int>>{{200}, {201}, {400}}));
  old_blocks.reset();
  totals = registry.collect();
  const std::map<std::pair<std::string, int>, std::uint64_t> after{
      {{"a", 200}, 1}, {{"c", 201}, 0}, {{"", 400}, 0}};
  EXPECT_EQ(totals.requests, after);
}

// One writer per block, a scraper on another thread: every scrape sees
// totals that never decrease, and the last one is exact. Run under TSan
// this also proves the relaxed load+store counting race-free.
TEST(MetricsRegistry, ConcurrentWritersAndScraper) {
  constexpr unsigned kWorkers = 2;
  constexpr std::uint64_t kRequests = 200'000;
  MetricsRegistry registry(kWorkers);
  const auto blocks = registry.use_layout(layout({}, {200}));
  std::atomic<unsigned> done{0};
  std::vector<std::thread> writers;
  for (unsigned w = 0; w < kWorkers; ++w) {
    writers.emplace_back([&, block = &blocks->of(w)] {
      for (std::uint64_t i = 0; i < kRequests; ++i) {
        block->count_accepted();
        block->count_request(0, 200, i % 2'000'000);
        block->count_closed(CloseReason::client);
      }
      done.fetch_add(1);
    });
  }
  std::uint64_t last = 0;
  while (done.load() < kWorkers) {
    const MetricsTotals totals = registry.collect();
    const std::uint64_t now = requests(totals, "default", 200);
    ASSERT_GE(now, last);
    last = now;
  }
  for (auto& writer : writers) writer.join();
  const MetricsTotals totals = registry.collect();
  EXPECT_EQ(requests(totals, "default", 200), kWorkers * kRequests);
  EXPECT_EQ(totals.duration_count(), kWorkers * kRequests);
  EXPECT_EQ(totals.open(), 0U);
}

}  // namespace
}  // namespace hellod
