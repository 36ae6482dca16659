// SPDX-License-Identifier: MIT
#include "metrics_exposition.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <utility>
#include <vector>

namespace hellod {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr double kNanosecondsPerSecond = 1e9;

double as_double(std::uint64_t value) {
  return static_cast<double>(value);
}

ClientMetric counter(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  return metric;
}

ClientMetric gauge(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

MetricFamily family(std::string name, std::string help, MetricType type,
                    std::vector<ClientMetric> metrics) {
  return MetricFamily{std::move(name), std::move(help), type, std::move(metrics)};
}

MetricFamily requests_family(const MetricsTotals& totals) {
  std::vector<ClientMetric> metrics;
  metrics.reserve(totals.requests.size());
  for (const auto& [labels, count] : totals.requests) {
    const std::string code = labels.second == 0 ? "other" : std::to_string(labels.second);
    metrics.push_back(counter(as_double(count), {{"code", code}, {"route", labels.first}}));
  }
  return family("hellod_http_requests_total",
                "HTTP requests answered, by route and final status code (100 Continue is not "
                "counted apart from its request).",
                MetricType::Counter, std::move(metrics));
}

MetricFamily duration_family(const MetricsTotals& totals) {
  ClientMetric metric;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kDurationBoundsNs.size(); ++i) {
    cumulative += totals.duration_buckets[i];
    metric.histogram.bucket.push_back(
        {cumulative, as_double(kDurationBoundsNs[i]) / kNanosecondsPerSecond});
  }
  // The serializer writes +Inf with sample_count: the sum of every bucket.
  metric.histogram.sample_count = totals.duration_count();
  metric.histogram.sample_sum = as_double(totals.duration_sum_ns) / kNanosecondsPerSecond;
  return family("hellod_http_request_duration_seconds",
                "Time from the end of a request head to its response handed to the kernel.",
                MetricType::Histogram, {std::move(metric)});
}

void add_connection_families(const MetricsTotals& totals, const ServerMetrics& server,
                             std::vector<MetricFamily>& out) {
  out.push_back(family("hellod_connections_open", "Client connections open now.", MetricType::Gauge,
                       {gauge(as_double(totals.open()))}));
  out.push_back(family("hellod_connections_accepted_total", "Client connections accepted.",
                       MetricType::Counter, {counter(as_double(totals.accepted))}));
  std::vector<ClientMetric> closed;
  for (std::size_t i = 0; i < kCloseReasons; ++i) {
    const std::string_view reason = close_reason_label(static_cast<CloseReason>(i));
    closed.push_back(counter(as_double(totals.closed[i]), {{"reason", std::string(reason)}}));
  }
  out.push_back(family("hellod_connections_closed_total", "Client connections closed, by reason.",
                       MetricType::Counter, std::move(closed)));
  if (server.waiting_backlog) {
    out.push_back(family("hellod_connections_waiting_backlog",
                         "Connections in the kernel's accept queues of the TCP listeners, not yet "
                         "taken by a worker.",
                         MetricType::Gauge, {gauge(as_double(*server.waiting_backlog))}));
  }
}

void add_traffic_families(const MetricsTotals& totals, std::vector<MetricFamily>& out) {
  out.push_back(family("hellod_http_received_bytes_total", "Bytes read from clients.",
                       MetricType::Counter, {counter(as_double(totals.received_bytes))}));
  out.push_back(family("hellod_http_sent_bytes_total", "Bytes handed to the kernel for clients.",
                       MetricType::Counter, {counter(as_double(totals.sent_bytes))}));
  out.push_back(family("hellod_access_log_dropped_total",
                       "Access log records dropped because the log could not keep up.",
                       MetricType::Counter, {counter(as_double(totals.access_log_drops))}));
}

void add_server_families(const ServerMetrics& server, std::vector<MetricFamily>& out) {
  out.push_back(family("hellod_config_reloads_total", "Configuration reloads (SIGHUP), by result.",
                       MetricType::Counter,
                       {counter(as_double(server.reloads_failed), {{"result", "failure"}}),
                        counter(as_double(server.reloads_succeeded), {{"result", "success"}})}));
  out.push_back(family("hellod_config_last_reload_successful",
                       "1 when the last configuration load succeeded, else 0.", MetricType::Gauge,
                       {gauge(server.last_reload_successful ? 1 : 0)}));
  out.push_back(family("hellod_config_last_reload_success_timestamp_seconds",
                       "When the configuration was last loaded successfully (start or reload).",
                       MetricType::Gauge, {gauge(server.last_reload_success_seconds)}));
  out.push_back(family("hellod_build_info", "Always 1; the version hellod was built as.",
                       MetricType::Gauge, {gauge(1, {{"version", server.version}})}));
  out.push_back(
      family("hellod_workers", "Worker threads.", MetricType::Gauge, {gauge(server.workers)}));
  out.push_back(family("hellod_draining", "1 while hellod drains connections to stop, else 0.",
                       MetricType::Gauge, {gauge(server.draining ? 1 : 0)}));
  out.push_back(family("hellod_log_lines_dropped_total",
                       "hellod's own log lines dropped because stderr or the journal was not "
                       "taking them.",
                       MetricType::Counter, {counter(as_double(server.log_lines_dropped))}));
}

void add_process_families(const ProcessMetrics& process, std::vector<MetricFamily>& out) {
  out.push_back(family("process_cpu_seconds_total",
                       "Total user and system CPU time spent in seconds.", MetricType::Counter,
                       {counter(process.cpu_seconds)}));
  out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                       MetricType::Gauge, {gauge(as_double(process.resident_bytes))}));
  out.push_back(family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                       {gauge(as_double(process.open_fds))}));
  out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                       MetricType::Gauge, {gauge(as_double(process.max_fds))}));
  out.push_back(family("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                       {gauge(process.start_time_seconds)}));
}

}  // namespace

std::string render_exposition(const MetricsTotals& totals, const ServerMetrics& server,
                              const ProcessMetrics& process) {
  std::vector<MetricFamily> families;
  families.push_back(requests_family(totals));
  families.push_back(duration_family(totals));
  add_connection_families(totals, server, families);
  add_traffic_families(totals, families);
  add_server_families(server, families);
  add_process_families(process, families);
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace hellod
