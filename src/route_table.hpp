// SPDX-License-Identifier: MIT
#pragma once

// Which route answers a request: built once per configuration from
// Config::routes, then asked per request without allocating or locking.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "route_match.hpp"

namespace hellod {

class RouteTable {
 public:
  // match()'s answer when no route matches: the top-level response answers.
  static constexpr std::size_t kNoRoute = std::numeric_limits<std::size_t>::max();

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

  template <typename MethodPasses>
  std::size_t find(std::string_view path, std::string_view host_header,
                   MethodPasses&& method_passes) const noexcept;
  [[nodiscard]] const ExactPath* exact(std::string_view path) const noexcept;
  void index_exact_paths(std::span<const RouteConfig> routes);

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

// The path a route compares, taken from a request target without copying
// (RFC 9112 §3.2): origin-form "/a/b?x" -> "/a/b"; absolute-form
// "http://h/a?b" -> "/a" ("http://h" -> "/", RFC 9110 §4.2.3);
// asterisk-form "*" -> "*"; authority-form "h:443" (CONNECT) and anything
// else -> "". The path is not decoded or normalised: routes compare bytes.
//
// Inline for the origin form, nearly every request: one pointer loop to "?"
// or "#" (RFC 3986 §3.3) where a call and a bounds-checked substr() cost more
// than the scan of a short path.
std::string_view non_origin_path(std::string_view target) noexcept;
inline std::string_view request_path(std::string_view target) noexcept {
  if (target.empty() || target.front() != '/') return non_origin_path(target);
  const char* const begin = target.data();
  const char* const end = begin + target.size();
  const char* stop = begin;
  while (stop != end && *stop != '?' && *stop != '#') ++stop;
  return {begin, static_cast<std::size_t>(stop - begin)};
}

// The authority of an absolute-form target without its userinfo
// ("http://u@h:8080/a" -> "h:8080"), or nothing for any other form. RFC 9112
// §3.3: such a target is the target URI, so its authority names the host a
// route compares, not the Host header (which §3.2.2 says to ignore).
std::optional<std::string_view> request_authority(std::string_view target) noexcept;

}  // namespace hellod
