// SPDX-License-Identifier: MIT
#include "route_table.hpp"

#include <algorithm>
#include <cassert>

namespace hellod {
namespace {

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_scheme(std::string_view text) {
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  return !text.empty() && alpha(text.front()) && std::all_of(text.begin(), text.end(), [&](char c) {
    return alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

std::string_view before_query(std::string_view path) {
  return path.substr(0, path.find_first_of("?#"));
}

// What follows "scheme://" in an absolute-form target, or nothing.
std::optional<std::string_view> after_scheme(std::string_view target) {
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || !is_scheme(target.substr(0, scheme_end))) {
    return std::nullopt;
  }
  return target.substr(scheme_end + 3);
}

}  // namespace

RouteTable::RouteTable(std::span<const RouteConfig> routes, std::string_view health_path) {
  assert(routes.size() < std::numeric_limits<std::uint32_t>::max());
  filters_.reserve(routes.size());
  health_.reserve(routes.size());
  for (std::uint32_t i = 0; i < routes.size(); ++i) {
    const RouteMatch& match = routes[i].match;
    filters_.push_back(Filter{match.methods, HostPattern(match.host)});
    const bool exact = match.path_kind == RouteMatch::PathKind::exact;
    health_.push_back(exact && !health_path.empty() && match.path == health_path);
    if (exact) {
      exact_[match.path].push_back(i);
    } else {
      scanned_.push_back(ScannedRoute{i, match.path_kind == RouteMatch::PathKind::any, match.path});
    }
  }
}

bool RouteTable::passes(std::uint32_t route, std::string_view method,
                        std::string_view host) const noexcept {
  const Filter& filter = filters_[route];
  return method_matches(filter.methods, method) && filter.host.matches(host);
}

std::size_t RouteTable::match(std::string_view method, std::string_view path,
                              std::string_view host_header) const noexcept {
  const std::string_view host = host_for_matching(host_header);
  std::size_t best = kNoRoute;
  if (const auto found = exact_.find(path); found != exact_.end()) {
    const auto& candidates = found->second;
    const auto first = std::find_if(candidates.begin(), candidates.end(),
                                    [&](std::uint32_t r) { return passes(r, method, host); });
    if (first != candidates.end()) best = *first;
  }
  // A prefix or any-path route earlier in the file than the exact match
  // still wins: the first match in file order answers.
  for (const ScannedRoute& route : scanned_) {
    if (route.route >= best) break;
    const bool path_ok = route.any_path || path.starts_with(route.prefix);
    if (path_ok && passes(route.route, method, host)) return route.route;
  }
  return best;
}

std::string_view request_path(std::string_view target) noexcept {
  if (target.starts_with('/')) return before_query(target);
  if (target == "*") return target;
  const auto after = after_scheme(target);
  if (!after) return {};
  const std::string_view rest = *after;
  const auto path_start = rest.find_first_of("/?#");
  if (path_start == std::string_view::npos || rest[path_start] != '/') return "/";
  return before_query(rest.substr(path_start));
}

std::optional<std::string_view> request_authority(std::string_view target) noexcept {
  if (target.starts_with('/')) return std::nullopt;
  const auto after = after_scheme(target);
  if (!after) return std::nullopt;
  std::string_view authority = after->substr(0, after->find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return authority;
}

}  // namespace hellod
