// SPDX-License-Identifier: MIT
// Reads `routes:` and `health:`, and refuses what could never work: a
// route an earlier one shadows, a duplicate exact path or name, a health
// path that is no route's. The matching rules are in route_match.cpp.

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config_reader.hpp"
#include "config_values.hpp"
#include "route_match.hpp"

namespace hellod::config_reader {
namespace {

constexpr std::size_t kMaxRouteName = 64;

// Where a route and its name were given, for messages about two routes.
struct RouteFields {
  Field route;
  std::optional<Field> name;
};

std::string read_route_name(const Field& field) {
  const std::string& name = field.scalar("a route name");
  const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (!valid) {
    field.fail("expected a route name of lower-case letters, digits, \"_\" and \"-\", got " +
               quote(name));
  }
  if (name.size() > kMaxRouteName) field.fail("a route name has at most 64 characters");
  return name;
}

std::string read_path(const Field& field) {
  const std::string& path = field.scalar("a path such as \"/healthz\"");
  if (const auto problem = route_path_problem(path)) field.fail(*problem);
  return path;
}

std::string read_method(const Field& field, const std::vector<std::string>& earlier) {
  const std::string& method = field.scalar("a method such as GET");
  if (const auto problem = method_problem(method)) field.fail(*problem);
  if (std::find(earlier.begin(), earlier.end(), method) != earlier.end()) {
    field.fail("duplicate method " + quote(method));
  }
  return method;
}

std::vector<std::string> read_methods(const Field& field) {
  if (field.node().IsScalar()) return {read_method(field, {})};
  if (!field.node().IsSequence()) {
    field.fail("expected a method or a list of methods, got " + describe(field.node()));
  }
  if (field.node().size() == 0) {
    field.fail("expected at least one method; omit methods to match every method");
  }
  std::vector<std::string> methods;
  for (std::size_t i = 0; i < field.node().size(); ++i) {
    methods.push_back(read_method(field.element(field.node()[i], i), methods));
  }
  return methods;
}

std::string read_host(const Field& field) {
  const std::string& host = field.scalar("a host such as \"example.com\" or \"*.example.com\"");
  if (const auto problem = host_pattern_problem(host)) field.fail(*problem);
  return lower_case(host);
}

RouteMatch read_match(const Field& field) {
  RouteMatch match;
  const auto read_path_as = [&](const Field& v, RouteMatch::PathKind kind) {
    if (match.path_kind != RouteMatch::PathKind::any) {
      v.fail("\"path\" (exact) and \"prefix\" are exclusive; remove one");
    }
    match.path = read_path(v);
    match.path_kind = kind;
  };
  read_map(field,
           {{"path", [&](const Field& v) { read_path_as(v, RouteMatch::PathKind::exact); }},
            {"prefix", [&](const Field& v) { read_path_as(v, RouteMatch::PathKind::prefix); }},
            {"methods", [&](const Field& v) { match.methods = read_methods(v); }},
            {"host", [&](const Field& v) { match.host = read_host(v); }}});
  return match;
}

RouteConfig read_route(const Field& field, std::size_t index, std::optional<Field>& name_field) {
  if (!field.node().IsMap()) {
    field.fail("expected a route (a map with match and response), got " + describe(field.node()));
  }
  RouteConfig route;
  bool has_response = false;
  read_map(field, {{"name",
                    [&](const Field& v) {
                      route.name = read_route_name(v);
                      name_field.emplace(v);
                    }},
                   {"match", [&](const Field& v) { route.match = read_match(v); }},
                   {"response", [&](const Field& v) {
                      route.response = read_response(v);
                      has_response = true;
                    }}});
  if (!has_response) field.fail("a route needs a response (write response: {} for the defaults)");
  if (route.name.empty()) route.name = "route" + std::to_string(index + 1);
  return route;
}

std::string describe_route(const std::vector<RouteConfig>& routes,
                           const std::vector<RouteFields>& fields, std::size_t index) {
  return "route " + quote(routes[index].name) + " (" + fields[index].route.path() + ", " +
         fields[index].route.where() + ")";
}

void check_names(const std::vector<RouteConfig>& routes, const std::vector<RouteFields>& fields) {
  std::unordered_map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto [earlier, fresh] = seen.emplace(routes[i].name, i);
    if (fresh) continue;
    const std::string other = describe_route(routes, fields, earlier->second);
    if (fields[i].name) fields[i].name->fail("duplicate route name: " + other + " has it too");
    fields[i].route.fail("the default name " + quote(routes[i].name) + " is taken by " + other +
                         "; give this route a name");
  }
}

// The first earlier route that covers route `index`, among the candidates.
std::optional<std::size_t> first_cover(const std::vector<RouteConfig>& routes, std::size_t index,
                                       const std::vector<std::size_t>& candidates) {
  for (const std::size_t earlier : candidates) {
    if (covers(routes[earlier].match, routes[index].match)) return earlier;
  }
  return std::nullopt;
}

void fail_shadowed(const std::vector<RouteConfig>& routes, const std::vector<RouteFields>& fields,
                   std::size_t earlier, std::size_t later) {
  const RouteMatch& match = routes[later].match;
  const std::string other = describe_route(routes, fields, earlier);
  // Two exact paths cover each other only when they are the same path.
  if (match.path_kind == RouteMatch::PathKind::exact &&
      routes[earlier].match.path_kind == RouteMatch::PathKind::exact) {
    fields[later].route.fail("duplicate exact path " + quote(match.path) + ": " + other +
                             " comes first with the same path and the same or wider methods "
                             "and host, so this route can never match");
  }
  fields[later].route.fail("route " + quote(routes[later].name) + " can never match: " + other +
                           " comes first and matches every request it would (same or wider "
                           "path, methods and host)");
}

// Only an earlier route with the same exact path, or without an exact path,
// can cover a route, so each route is compared with those alone: a file of
// many exact paths is checked in linear time.
void check_shadowing(const std::vector<RouteConfig>& routes,
                     const std::vector<RouteFields>& fields) {
  std::unordered_map<std::string_view, std::vector<std::size_t>> exact;
  std::vector<std::size_t> others;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RouteMatch& match = routes[i].match;
    const bool is_exact = match.path_kind == RouteMatch::PathKind::exact;
    std::optional<std::size_t> cover = first_cover(routes, i, others);
    if (is_exact) {
      std::vector<std::size_t>& same_path = exact[match.path];
      const auto by_path = first_cover(routes, i, same_path);
      if (by_path && (!cover || *by_path < *cover)) cover = by_path;
      same_path.push_back(i);
    } else {
      others.push_back(i);
    }
    if (cover) fail_shadowed(routes, fields, *cover, i);
  }
}

}  // namespace

std::vector<RouteConfig> read_routes(const Field& field) {
  std::vector<RouteConfig> routes;
  if (field.node().IsNull()) return routes;
  if (!field.node().IsSequence()) {
    field.fail("expected a list of routes, got " + describe(field.node()));
  }
  std::vector<RouteFields> fields;
  for (std::size_t i = 0; i < field.node().size(); ++i) {
    RouteFields where{field.element(field.node()[i], i), std::nullopt};
    routes.push_back(read_route(where.route, i, where.name));
    fields.push_back(std::move(where));
  }
  check_names(routes, fields);
  check_shadowing(routes, fields);
  return routes;
}

void read_health(const Field& field, HealthField& out) {
  std::optional<Field> drain;
  read_map(field, {{"path",
                    [&](const Field& v) {
                      out.health.path = read_path(v);
                      out.path.emplace(v);
                    }},
                   {"drain", [&](const Field& v) {
                      out.health.drain = read_duration(v, /*allow_zero=*/true);
                      drain.emplace(v);
                    }}});
  if (drain && out.health.drain.count() > 0 && !out.path) {
    drain->fail(
        "a drain needs health.path: without a health route no load balancer can see "
        "hellod stopping");
  }
}

void check_health(const HealthField& health, const std::vector<RouteConfig>& routes) {
  if (!health.path) return;
  const bool found = std::any_of(routes.begin(), routes.end(), [&](const RouteConfig& route) {
    return route.match.path_kind == RouteMatch::PathKind::exact &&
           route.match.path == health.health.path;
  });
  if (!found) {
    health.path->fail(
        quote(health.health.path) +
        " is no route's exact path; add a route with match: {path: " + health.health.path + "}");
  }
}

}  // namespace hellod::config_reader
