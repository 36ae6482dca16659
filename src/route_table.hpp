// SPDX-License-Identifier: MIT
#pragma once

// Which route answers a request: built once per configuration from
// Config::routes, then asked per request without allocating or locking.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "route_match.hpp"
#include "route_path.hpp"

namespace hellod {

class RouteTable {
 public:
  // match()'s answer when no route matches: the top-level response answers.
  static constexpr std::size_t kNoRoute = std::numeric_limits<std::size_t>::max();
  // Method filters are bit sets with a bit per llhttp method number.
  static constexpr unsigned kMethodBits = 64;

  RouteTable() = default;  // no routes: every request gets the top-level response
  // routes as validated by the config reader; health_path is
  // Config::health.path ("" for none).
  explicit RouteTable(std::span<const RouteConfig> routes, std::string_view health_path = {});

  // The index in `routes` of the first route in file order that matches, or
  // kNoRoute.
  // - method: the request method as received (case-sensitive);
  // - path: request_path() of the target ("" or "*" match only the routes
  //   without path or prefix);
  // - host: the Host header value as received, port and all ("" if none).
  // Exact paths cost one hash lookup whatever their number; prefix and
  // any-path routes are scanned in file order, only up to the best match
  // found so far; host and method filters are checked only on candidates.
  [[nodiscard]] std::size_t match(std::string_view method, std::string_view path,
                                  std::string_view host) const noexcept;
  // The same, for a method as llhttp numbers it (llhttp_t::method): what the
  // request path uses, since comparing a bit costs less than a name.
  [[nodiscard]] std::size_t match(unsigned method, std::string_view path,
                                  std::string_view host) const noexcept;
  // The same, for the path and hash route_path() found: the request path's.
  // Inline for nearly every routed request, which one lookup and one bit
  // settle (ExactPath::settled_methods); forced, since GCC would otherwise
  // call it and pay more for the call than for the lookup.
  [[nodiscard]] [[gnu::always_inline]] std::size_t match(unsigned method, const RoutePath& path,
                                                         std::string_view host) const noexcept {
    const ExactPath* entry = exact(path);
    if (entry != nullptr && method < kMethodBits && ((entry->settled_methods >> method) & 1U) != 0)
      return entry->settled_route;
    return find_number(entry, method, path.path, host);
  }

  // True when the route is a health route: its exact path is health.path.
  // While draining, such a route answers 503 with Connection: close.
  [[nodiscard]] bool is_health(std::size_t route) const noexcept {
    return route < health_.size() && health_[route];
  }
  [[nodiscard]] std::size_t size() const noexcept { return filters_.size(); }
  // True when some route filters on the host: otherwise match() never looks
  // at it, and the caller need not find it.
  [[nodiscard]] bool uses_host() const noexcept { return uses_host_; }

 private:
  struct Filter {
    std::vector<std::string> methods;  // empty = every method
    std::uint64_t method_bits = 0;     // bit n: llhttp's method n is listed (all: any method)
    HostPattern host;
    bool any_host = true;
  };
  // A route that is not an exact path: a prefix, or any path.
  struct ScannedRoute {
    std::uint32_t route;
    bool any_path;
    std::string prefix;
  };
  // One exact path and the routes with that path, in file order
  // (candidates_[first, first + count)).
  struct ExactPath {
    std::string path;
    std::uint64_t hash;
    std::uint32_t first;
    std::uint32_t count;
    // The methods (bits as in Filter) that settle the match at once: those
    // of the first candidate when it takes any host and no scanned route
    // comes before it in the file; 0 otherwise.
    std::uint64_t settled_methods = 0;
    std::uint32_t settled_route = 0;  // that first candidate
  };
  // The host a request is compared with, reduced only when a route with a
  // host filter is asked (most tables have none).
  class LazyHost {
   public:
    explicit LazyHost(std::string_view header) : header_(header) {}
    std::string_view get() noexcept;

   private:
    std::string_view header_;
    bool reduced_ = false;
  };

  // The first match in file order, given the path's exact entry (or none).
  template <typename MethodPasses>
  std::size_t find(const ExactPath* entry, std::string_view path, std::string_view host_header,
                   MethodPasses&& method_passes) const noexcept;
  [[nodiscard]] std::size_t find_number(const ExactPath* entry, unsigned method,
                                        std::string_view path,
                                        std::string_view host_header) const noexcept;
  [[nodiscard]] const ExactPath* exact(const RoutePath& path) const noexcept {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = path.hash & mask;; slot = (slot + 1) & mask) {
      const std::uint32_t index = slots_[slot];
      if (index == 0) return nullptr;
      const ExactPath& entry = exact_[index - 1];
      if (entry.hash == path.hash && same_bytes(entry.path, path.path)) return &entry;
    }
  }
  void index_exact_paths(std::span<const RouteConfig> routes);
  void settle_exact_paths();

  // Exact paths, found through an open-addressed table of indexes + 1
  // (0 = empty slot) whose size is a power of two.
  std::vector<ExactPath> exact_;
  std::vector<std::uint32_t> slots_;
  std::vector<std::uint32_t> candidates_;
  std::vector<ScannedRoute> scanned_;  // in file order
  std::vector<Filter> filters_;        // by route index
  std::vector<bool> health_;           // by route index
  bool uses_host_ = false;
};

// True when a route with this match is the health route of health_path
// (Config::health.path, "" for none): its exact path is that path.
bool is_health_route(const RouteMatch& match, std::string_view health_path) noexcept;

}  // namespace hellod
