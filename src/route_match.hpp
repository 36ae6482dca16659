// SPDX-License-Identifier: MIT
#pragma once

// The rules of one route's `match:`: what each filter accepts, how a request
// is compared with it, and when one route's match covers another's. Pure
// functions on strings, shared by the config reader (validation, shadowed
// routes) and the route table (matching), so both apply the same rules.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace hellod {

// A compiled `host:` filter. Patterns are validated and lower-case:
// "example.com", "[::1]", or "*.example.com" for any subdomain (at any
// depth) but not example.com itself.
class HostPattern {
 public:
  HostPattern() = default;  // every host
  explicit HostPattern(std::string_view pattern);

  // host is a Host header reduced by host_for_matching(); compared
  // case-insensitively (RFC 3986 §3.2.2: the host is case-insensitive).
  [[nodiscard]] bool matches(std::string_view host) const noexcept;
  // True when every host `other` matches, this matches too.
  [[nodiscard]] bool covers(const HostPattern& other) const noexcept;

 private:
  enum class Kind : unsigned char { any, exact, subdomains };
  Kind kind_ = Kind::any;
  std::string text_;  // exact: the host; subdomains: ".example.com"
};

// The part of a Host header value that host patterns see: without the
// surrounding whitespace, the port (RFC 9110 §7.2) and a trailing dot (an
// absolute name, RFC 1034 §3.1). "[::1]:8080" gives "[::1]". No copy.
std::string_view host_for_matching(std::string_view host_header) noexcept;

// True when `methods` (a route's list; empty = every method) holds method.
bool method_matches(const std::vector<std::string>& methods, std::string_view method) noexcept;

// True when every request `later` matches is also matched by `earlier`, so
// that `later`, placed after it, can never answer. Only one earlier route is
// considered at a time: a route covered by the union of several is not found.
bool covers(const RouteMatch& earlier, const RouteMatch& later);

// Why a value cannot be used in `match:`, or nothing if it can. Host
// patterns are checked as written; lower_case() them before use.
std::optional<std::string> route_path_problem(std::string_view path);
std::optional<std::string> host_pattern_problem(std::string_view pattern);
std::optional<std::string> method_problem(std::string_view method);

// ASCII lower case.
std::string lower_case(std::string_view text);

}  // namespace hellod
