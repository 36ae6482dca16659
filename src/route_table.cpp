// SPDX-License-Identifier: MIT
#include "route_table.hpp"

#include <llhttp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <unordered_map>

namespace hellod {
namespace {

// llhttp's method numbers and names (llhttp_method_name() aborts on a
// number it does not know, so the table comes from its map).
struct KnownMethod {
  unsigned number;
  std::string_view name;
};
#define HELLOD_METHOD_ENTRY(number, name, text) KnownMethod{number, #text},
constexpr std::array kLlhttpMethods{HTTP_ALL_METHOD_MAP(HELLOD_METHOD_ENTRY)};
#undef HELLOD_METHOD_ENTRY
constexpr unsigned kMethodBits = RouteTable::kMethodBits;
static_assert(std::all_of(kLlhttpMethods.begin(), kLlhttpMethods.end(),
                          [](const KnownMethod& m) { return m.number < kMethodBits; }),
              "every llhttp method has a bit");

std::uint64_t method_bits(const std::vector<std::string>& methods) {
  std::uint64_t bits = 0;
  for (const KnownMethod& known : kLlhttpMethods) {
    if (method_matches(methods, known.name)) bits |= std::uint64_t{1} << known.number;
  }
  return bits;
}

}  // namespace

std::string_view RouteTable::LazyHost::get() noexcept {
  if (!reduced_) {
    header_ = host_for_matching(header_);
    reduced_ = true;
  }
  return header_;
}

template <typename MethodPasses>
std::size_t RouteTable::find(const ExactPath* entry, std::string_view path,
                             std::string_view host_header,
                             MethodPasses&& method_passes) const noexcept {
  LazyHost host(host_header);
  const auto passes = [&](std::uint32_t route) {
    const Filter& filter = filters_[route];
    return method_passes(filter) && (filter.any_host || filter.host.matches(host.get()));
  };
  std::size_t best = kNoRoute;
  if (entry != nullptr) {
    for (std::uint32_t i = entry->first; i < entry->first + entry->count; ++i) {
      if (passes(candidates_[i])) {
        best = candidates_[i];
        break;
      }
    }
  }
  // A prefix or any-path route earlier in the file than the exact match
  // still wins: the first match in file order answers.
  for (const ScannedRoute& route : scanned_) {
    if (route.route >= best) break;
    const bool path_ok = route.any_path || path.starts_with(route.prefix);
    if (path_ok && passes(route.route)) return route.route;
  }
  return best;
}

std::size_t RouteTable::find_number(const ExactPath* entry, unsigned method, std::string_view path,
                                    std::string_view host_header) const noexcept {
  return find(entry, path, host_header, [method](const Filter& filter) {
    return method < kMethodBits ? ((filter.method_bits >> method) & 1U) != 0
                                : filter.methods.empty();
  });
}

std::size_t RouteTable::match(unsigned method, std::string_view path,
                              std::string_view host_header) const noexcept {
  return match(method, RoutePath{path, path_hash(path)}, host_header);
}

std::size_t RouteTable::match(std::string_view method, std::string_view path,
                              std::string_view host_header) const noexcept {
  const auto* known = std::find_if(kLlhttpMethods.begin(), kLlhttpMethods.end(),
                                   [&](const KnownMethod& m) { return m.name == method; });
  if (known != kLlhttpMethods.end()) return match(known->number, path, host_header);
  return find(exact(RoutePath{path, path_hash(path)}), path, host_header,
              [method](const Filter& filter) { return method_matches(filter.methods, method); });
}

RouteTable::RouteTable(std::span<const RouteConfig> routes, std::string_view health_path) {
  assert(routes.size() < std::numeric_limits<std::uint32_t>::max());
  filters_.reserve(routes.size());
  health_.reserve(routes.size());
  for (std::uint32_t i = 0; i < routes.size(); ++i) {
    const RouteMatch& match = routes[i].match;
    filters_.push_back(Filter{match.methods, method_bits(match.methods), HostPattern(match.host),
                              match.host.empty()});
    uses_host_ = uses_host_ || !match.host.empty();
    const bool exact = match.path_kind == RouteMatch::PathKind::exact;
    health_.push_back(is_health_route(match, health_path));
    if (!exact) {
      scanned_.push_back(ScannedRoute{i, match.path_kind == RouteMatch::PathKind::any, match.path});
    }
  }
  index_exact_paths(routes);
  settle_exact_paths();
}

void RouteTable::index_exact_paths(std::span<const RouteConfig> routes) {
  std::unordered_map<std::string_view, std::size_t> entry_of;  // path -> index in exact_
  std::vector<std::vector<std::uint32_t>> by_path;
  for (std::uint32_t i = 0; i < routes.size(); ++i) {
    const RouteMatch& match = routes[i].match;
    if (match.path_kind != RouteMatch::PathKind::exact) continue;
    const auto [entry, added] = entry_of.try_emplace(match.path, exact_.size());
    if (added) {
      exact_.push_back(ExactPath{match.path, path_hash(match.path), 0, 0});
      by_path.emplace_back();
    }
    by_path[entry->second].push_back(i);
  }
  for (std::size_t e = 0; e < exact_.size(); ++e) {
    exact_[e].first = static_cast<std::uint32_t>(candidates_.size());
    exact_[e].count = static_cast<std::uint32_t>(by_path[e].size());
    candidates_.insert(candidates_.end(), by_path[e].begin(), by_path[e].end());
  }
  if (exact_.empty()) return;
  // At most a quarter full, so a lookup ends within a probe or two.
  std::size_t size = 2;
  while (size < 4 * exact_.size()) size *= 2;
  slots_.assign(size, 0);
  for (std::uint32_t e = 0; e < exact_.size(); ++e) {
    std::size_t slot = exact_[e].hash & (size - 1);
    while (slots_[slot] != 0) slot = (slot + 1) & (size - 1);
    slots_[slot] = e + 1;
  }
}

void RouteTable::settle_exact_paths() {
  const std::size_t first_scanned = scanned_.empty() ? kNoRoute : scanned_.front().route;
  for (ExactPath& entry : exact_) {
    const std::uint32_t route = candidates_[entry.first];
    const Filter& filter = filters_[route];
    entry.settled_methods = filter.any_host && route < first_scanned ? filter.method_bits : 0;
    entry.settled_route = route;
  }
}

bool is_health_route(const RouteMatch& match, std::string_view health_path) noexcept {
  return match.path_kind == RouteMatch::PathKind::exact && !health_path.empty() &&
         match.path == health_path;
}

}  // namespace hellod
