// SPDX-License-Identifier: MIT
#include "snapshot.hpp"

#include <algorithm>
#include <ctime>
#include <utility>

namespace hellod {
namespace {

// Test builds always collect the target, for the throwing test target
// (connection.cpp).
#ifdef HELLOD_TEST_HOOKS
constexpr bool kAlwaysTarget = true;
#else
constexpr bool kAlwaysTarget = false;
#endif

FieldMask captures_for(const Config& config) {
  const bool any_host =
      std::any_of(config.routes.begin(), config.routes.end(),
                  [](const RouteConfig& route) { return !route.match.host.empty(); });
  const bool logging = config.log.access != AccessLogFormat::off;
  const bool target = kAlwaysTarget || !config.routes.empty() || logging;
  unsigned fields = 0;
  if (target) fields |= field_bit(Field::target);
  if (any_host) fields |= field_bit(Field::host);
  if (logging) {
    fields |= field_bit(Field::user_agent);
    fields |= field_bit(Field::referer);
  }
  return static_cast<FieldMask>(fields);
}

}  // namespace

Snapshot::Snapshot(Config validated, std::uint32_t descriptor_budget,
                   std::shared_ptr<const MetricBlocks> metric_blocks)
    : config(std::move(validated)),
      responses(config, current_http_date()),
      routes(config.routes, config.health.path),
      captures(captures_for(config)),
      request_limits{config.limits.max_header_bytes, config.limits.max_body_bytes},
      connection_limit(std::min(config.limits.max_connections, descriptor_budget)),
      metrics(std::move(metric_blocks)) {}

}  // namespace hellod
