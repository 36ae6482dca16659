// SPDX-License-Identifier: MIT
#pragma once

// RouteConfig builders for the routing tests: one route with the given
// match and a default response.

#include <string>
#include <utility>
#include <vector>

#include "config.hpp"

namespace hellod::test {

inline RouteConfig route(RouteMatch::PathKind kind, std::string path,
                         std::vector<std::string> methods = {}, std::string host = {}) {
  RouteConfig r;
  r.match = RouteMatch{kind, std::move(path), std::move(methods), std::move(host)};
  return r;
}
inline RouteConfig exact(std::string path, std::vector<std::string> methods = {},
                         std::string host = {}) {
  return route(RouteMatch::PathKind::exact, std::move(path), std::move(methods), std::move(host));
}
inline RouteConfig prefix(std::string path, std::vector<std::string> methods = {},
                          std::string host = {}) {
  return route(RouteMatch::PathKind::prefix, std::move(path), std::move(methods), std::move(host));
}
inline RouteConfig any(std::vector<std::string> methods = {}, std::string host = {}) {
  return route(RouteMatch::PathKind::any, "", std::move(methods), std::move(host));
}

}  // namespace hellod::test
