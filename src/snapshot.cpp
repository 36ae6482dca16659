#include "snapshot.hpp"

#include <algorithm>
#include <ctime>
#include <utility>

namespace hellod {

Snapshot::Snapshot(Config validated, std::uint32_t descriptor_budget)
    : config(std::move(validated)),
      responses(config.response, current_http_date()),
      request_limits{config.limits.max_header_bytes, config.limits.max_body_bytes},
      connection_limit(std::min(config.limits.max_connections, descriptor_budget)) {}

}  // namespace hellod
