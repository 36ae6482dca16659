// SPDX-License-Identifier: MIT
// The exposition as prometheus-cpp's TextSerializer renders it, and the
// process metrics it reads from /proc/self.
#include "metrics_exposition.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <regex>
#include <sstream>

namespace hellod {
namespace {

MetricsTotals sample_totals() {
  MetricsTotals totals;
  totals.requests[{"default", 200}] = 7;
  totals.requests[{"default", 431}] = 1;
  totals.requests[{"", 400}] = 2;
  totals.requests[{"default", 0}] = 1;
  totals.duration_buckets[0] = 5;
  totals.duration_buckets[3] = 3;
  totals.duration_buckets[kDurationBuckets - 1] = 1;
  totals.duration_sum_ns = 1'500'000'000;
  totals.accepted = 10;
  totals.closed[static_cast<std::size_t>(CloseReason::keepalive_timeout)] = 4;
  totals.received_bytes = 1000;
  totals.sent_bytes = 2000;
  totals.access_log_drops = 3;
  return totals;
}

ServerMetrics sample_server() {
  ServerMetrics server;
  server.version = "1.2.3";
  server.workers = 2;
  server.reloads_succeeded = 1;
  server.reloads_failed = 2;
  server.last_reload_successful = false;
  server.last_reload_success_seconds = 1700000000.5;
  server.waiting_backlog = 4;
  server.log_lines_dropped = 5;
  return server;
}

std::string render() {
  ProcessMetrics process;
  process.cpu_seconds = 1.25;
  process.open_fds = 12;
  return render_exposition(sample_totals(), sample_server(), process);
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    if (l == line) return true;
  }
  return false;
}

TEST(MetricsExposition, Values) {
  const std::string text = render();
  for (const char* line : {
           R"(hellod_http_requests_total{code="200",route="default"} 7)",
           R"(hellod_http_requests_total{code="431",route="default"} 1)",
           R"(hellod_http_requests_total{code="400",route=""} 2)",
           R"(hellod_http_requests_total{code="other",route="default"} 1)",
           R"(hellod_http_request_duration_seconds_count 9)",
           R"(hellod_http_request_duration_seconds_sum 1.5)",
           R"(hellod_http_request_duration_seconds_bucket{le="2.5e-05"} 5)",
           R"(hellod_http_request_duration_seconds_bucket{le="0.00025"} 8)",
           R"(hellod_http_request_duration_seconds_bucket{le="1"} 8)",
           R"(hellod_http_request_duration_seconds_bucket{le="+Inf"} 9)",
           R"(hellod_connections_open 6)",
           R"(hellod_connections_accepted_total 10)",
           R"(hellod_connections_closed_total{reason="keepalive_timeout"} 4)",
           R"(hellod_connections_closed_total{reason="shutdown"} 0)",
           R"(hellod_connections_waiting_backlog 4)",
           R"(hellod_http_received_bytes_total 1000)",
           R"(hellod_http_sent_bytes_total 2000)",
           R"(hellod_access_log_dropped_total 3)",
           R"(hellod_config_reloads_total{result="failure"} 2)",
           R"(hellod_config_reloads_total{result="success"} 1)",
           R"(hellod_config_last_reload_successful 0)",
           R"(hellod_config_last_reload_success_timestamp_seconds 1700000000.5)",
           R"(hellod_build_info{version="1.2.3"} 1)",
           R"(hellod_workers 2)",
           R"(hellod_draining 0)",
           R"(hellod_log_lines_dropped_total 5)",
           R"(process_cpu_seconds_total 1.25)",
           R"(process_open_fds 12)",
           "# TYPE hellod_http_requests_total counter",
           "# TYPE hellod_http_request_duration_seconds histogram",
           "# TYPE hellod_connections_open gauge",
       }) {
    EXPECT_TRUE(has_line(text, line)) << line << "\nin:\n" << text;
  }
}

// Every line is a comment or "name{labels} value" (text format 0.0.4), and
// every name is hellod_ or process_ and announced by # TYPE first.
TEST(MetricsExposition, EveryLineIsWellFormed) {
  const std::regex sample(
      R"re((hellod|process)_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? ([-+0-9.e]+|\+Inf))re");
  std::istringstream lines(render());
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
}

TEST(MetricsExposition, NoBacklogWithoutTcpListeners) {
  ServerMetrics server = sample_server();
  server.waiting_backlog.reset();
  const std::string text = render_exposition(sample_totals(), server, ProcessMetrics{});
  EXPECT_EQ(text.find("hellod_connections_waiting_backlog"), std::string::npos);
}

TEST(ProcessMetrics, ReadsThisProcess) {
  const ProcessMetrics process = read_process_metrics();
  EXPECT_GT(process.resident_bytes, 1U << 20);
  EXPECT_GE(process.open_fds, 3U);  // stdin, stdout, stderr at least
  EXPECT_GE(process.max_fds, process.open_fds);
  const double now = static_cast<double>(std::time(nullptr));
  // Started within the last hour (a test binary), and not in the future.
  EXPECT_LE(process.start_time_seconds, now + 1);
  EXPECT_GT(process.start_time_seconds, now - 3600);
  EXPECT_GE(process.cpu_seconds, 0);
}

TEST(ProcessMetrics, CountsOpenDescriptors) {
  const auto before = count_directory_entries("/proc/self/fd");
  ASSERT_TRUE(before);
  std::array<int, 2> pipe_fds{};
  ASSERT_EQ(::pipe(pipe_fds.data()), 0);
  EXPECT_EQ(count_directory_entries("/proc/self/fd"), *before + 2);
  // The listing's own descriptor is not counted by open_descriptors().
  EXPECT_EQ(open_descriptors(), *before + 2 - 1);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_FALSE(count_directory_entries("/nonexistent"));
}

}  // namespace
}  // namespace hellod
