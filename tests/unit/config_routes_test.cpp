// SPDX-License-Identifier: MIT
// `routes:` and `health:` in the configuration file: what they accept, and
// every refusal with its exact message and position.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>

#include "config.hpp"

namespace hellod {
namespace {

using std::chrono::milliseconds;
using Kind = RouteMatch::PathKind;

constexpr const char* kFile = "t.yaml";

Config parse_ok(std::string_view yaml) {
  auto result = parse_config(yaml, kFile);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : Config{};
}

std::string parse_error(std::string_view yaml) {
  auto result = parse_config(yaml, kFile);
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  return result.ok() ? "" : result.error().message;
}

// --- what is accepted ---------------------------------------------------------

TEST(ConfigRoutes, DefaultsHaveNoRoutesAndNoDrain) {
  const Config c;
  EXPECT_TRUE(c.routes.empty());
  EXPECT_EQ(c.health.path, "");
  EXPECT_EQ(c.health.drain, milliseconds{0});
  EXPECT_EQ(parse_ok("routes:\nhealth:\n"), Config{});
  EXPECT_EQ(parse_ok("routes: []\nhealth: {drain: 0s}\n"), Config{});
}

TEST(ConfigRoutes, TheIssueExample) {
  std::array<char, 32> name{"/tmp/hellod-routes-XXXXXX"};
  const int fd = ::mkstemp(name.data());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "<h1>later</h1>\n", 15), 15);
  ::close(fd);
  const Config c = parse_ok(std::string(R"(
response: {status: 200, body: "Hello, World!\n"}
routes:
  - name: health
    match: {path: /healthz}
    response: {status: 200, body: "ok\n"}
  - match: {prefix: /api/, methods: [GET, HEAD], host: "*.Example.com"}
    response:
      status: 503
      content_type: "text/html; charset=utf-8"
      body_file: )") + name.data() +
                            R"(
      headers: {Retry-After: "120", Cache-Control: no-store}
health:
  path: /healthz
  drain: 10s
)");
  ::unlink(name.data());
  ASSERT_EQ(c.routes.size(), 2U);
  EXPECT_EQ(c.routes[0].name, "health");
  EXPECT_EQ(c.routes[0].match, (RouteMatch{Kind::exact, "/healthz", {}, ""}));
  EXPECT_EQ(c.routes[0].response.body, "ok\n");
  EXPECT_EQ(c.routes[1].name, "route2");
  EXPECT_EQ(c.routes[1].match,
            (RouteMatch{Kind::prefix, "/api/", {"GET", "HEAD"}, "*.example.com"}));
  EXPECT_EQ(c.routes[1].response.status, 503);
  EXPECT_EQ(c.routes[1].response.body, "<h1>later</h1>\n");
  EXPECT_EQ(c.routes[1].response.headers.size(), 2U);
  EXPECT_EQ(c.health.path, "/healthz");
  EXPECT_EQ(c.health.drain, milliseconds{10'000});
  EXPECT_EQ(c.response, Config{}.response);
}

TEST(ConfigRoutes, RouteDefaults) {
  const Config c =
      parse_ok("routes:\n  - {match: {path: /a}, response: {}}\n  - match: {}\n    response:\n");
  ASSERT_EQ(c.routes.size(), 2U);
  EXPECT_EQ(c.routes[0].name, "route1");
  EXPECT_EQ(c.routes[1].name, "route2");
  EXPECT_EQ(c.routes[1].match, RouteMatch{});
  EXPECT_EQ(c.routes[0].response, ResponseConfig{});
  EXPECT_EQ(c.routes[1].response, ResponseConfig{});
}

TEST(ConfigRoutes, ValuesAsWritten) {
  const Config c = parse_ok(
      "routes:\n"
      "  - {name: a-1_b, match: {methods: DELETE}, response: {}}\n"
      "  - {match: {path: \"/caf%C3%A9\", host: \"[::1]\", methods: [M-SEARCH]}, response: {}}\n"
      "  - {match: {prefix: /, host: A.B_c-d.example}, response: {}}\n");
  EXPECT_EQ(c.routes[0].name, "a-1_b");
  EXPECT_EQ(c.routes[0].match.methods, std::vector<std::string>{"DELETE"});
  EXPECT_EQ(c.routes[1].match.path, "/caf%C3%A9");
  EXPECT_EQ(c.routes[1].match.host, "[::1]");
  EXPECT_EQ(c.routes[2].match, (RouteMatch{Kind::prefix, "/", {}, "a.b_c-d.example"}));
}

TEST(ConfigRoutes, SameExactPathWithOtherHostsOrMethodsIsAllowed) {
  const Config c = parse_ok(
      "routes:\n"
      "  - {match: {path: /, host: a.example.com}, response: {body: a}}\n"
      "  - {match: {path: /, host: \"*.example.com\"}, response: {body: b}}\n"
      "  - {match: {path: /, methods: [POST]}, response: {body: c}}\n"
      "  - {match: {path: /}, response: {body: d}}\n"
      "  - {match: {prefix: /}, response: {body: e}}\n"
      "  - {response: {body: f}}\n");
  EXPECT_EQ(c.routes.size(), 6U);
}

TEST(ConfigRoutes, HealthMayComeBeforeRoutesAndNeedsAnExactPath) {
  const Config c = parse_ok(
      "health: {path: /healthz, drain: 2.5s}\n"
      "routes:\n  - {match: {path: /healthz, host: lb.internal}, response: {}}\n");
  EXPECT_EQ(c.health.path, "/healthz");
  EXPECT_EQ(c.health.drain, milliseconds{2500});
  EXPECT_EQ(parse_ok("routes: [{match: {path: /h}, response: {}}]\nhealth: {path: /h, drain: 0}\n")
                .health.drain,
            milliseconds{0});
}

TEST(ConfigRoutes, AThousandExactRoutesLoad) {
  std::string yaml = "routes:\n";
  for (int i = 0; i < 1000; ++i) {
    yaml += "  - {match: {path: /r" + std::to_string(i) + "}, response: {body: x}}\n";
  }
  EXPECT_EQ(parse_ok(yaml).routes.size(), 1000U);
}

// --- refusals ---------------------------------------------------------------------

TEST(ConfigRoutesRefused, Shapes) {
  EXPECT_EQ(parse_error("routes: {a: 1}\n"),
            "t.yaml:1:9: routes: expected a list of routes, got a map");
  EXPECT_EQ(parse_error("routes: [x]\n"),
            "t.yaml:1:10: routes[0]: expected a route (a map with match and response), got \"x\"");
  EXPECT_EQ(parse_error("routes:\n  -\n"),
            "t.yaml:2:3: routes[0]: expected a route (a map with match and response), got "
            "nothing");
  EXPECT_EQ(parse_error("routes:\n  - match: {path: /a}\n"),
            "t.yaml:2:5: routes[0]: a route needs a response (write response: {} for the "
            "defaults)");
  EXPECT_EQ(parse_error("routes:\n  - respones: {}\n"),
            "t.yaml:2:5: routes[0].respones: unknown key \"respones\", did you mean \"response\"?");
  EXPECT_EQ(parse_error("routes:\n  - match: {paht: /a}\n    response: {}\n"),
            "t.yaml:2:13: routes[0].match.paht: unknown key \"paht\", did you mean \"path\"?");
  EXPECT_EQ(parse_error("routes:\n  - match: /a\n    response: {}\n"),
            "t.yaml:2:12: routes[0].match: expected a map of settings, got \"/a\"");
  EXPECT_EQ(parse_error("routes:\n  - response: {}\n  - response: {status: 99}\n"),
            "t.yaml:3:24: routes[1].response.status: expected an integer 200..599, got \"99\"");
}

TEST(ConfigRoutesRefused, Names) {
  EXPECT_EQ(parse_error("routes:\n  - {name: Health, response: {}}\n"),
            "t.yaml:2:12: routes[0].name: expected a route name of lower-case letters, digits, "
            "\"_\" and \"-\", got \"Health\"");
  EXPECT_EQ(parse_error("routes:\n  - {name: \"\", response: {}}\n"),
            "t.yaml:2:12: routes[0].name: expected a route name of lower-case letters, digits, "
            "\"_\" and \"-\", got \"\"");
  EXPECT_EQ(parse_error("routes:\n  - {name: " + std::string(65, 'a') + ", response: {}}\n"),
            "t.yaml:2:12: routes[0].name: a route name has at most 64 characters");
  EXPECT_EQ(parse_error("routes:\n  - {name: api, match: {path: /a}, response: {}}\n"
                        "  - {name: api, match: {path: /b}, response: {}}\n"),
            "t.yaml:3:12: routes[1].name: duplicate route name: route \"api\" (routes[0], "
            "t.yaml:2:5) has it too");
  EXPECT_EQ(parse_error("routes:\n  - {name: route2, match: {path: /a}, response: {}}\n"
                        "  - {match: {path: /b}, response: {}}\n"),
            "t.yaml:3:5: routes[1]: the default name \"route2\" is taken by route \"route2\" "
            "(routes[0], t.yaml:2:5); give this route a name");
}

TEST(ConfigRoutesRefused, Paths) {
  EXPECT_EQ(parse_error("routes:\n  - {match: {path: /a, prefix: /b}, response: {}}\n"),
            "t.yaml:2:32: routes[0].match.prefix: \"path\" (exact) and \"prefix\" are "
            "exclusive; remove one");
  EXPECT_EQ(parse_error("routes:\n  - {match: {path: healthz}, response: {}}\n"),
            "t.yaml:2:20: routes[0].match.path: must start with \"/\" (the path of a request "
            "target, RFC 9112 §3.2), got \"healthz\"");
  EXPECT_EQ(parse_error("routes:\n  - {match: {prefix: \"\"}, response: {}}\n"),
            "t.yaml:2:22: routes[0].match.prefix: must start with \"/\" (the path of a request "
            "target, RFC 9112 §3.2), got \"\"");
  EXPECT_EQ(parse_error("routes:\n  - {match: {path: \"*\"}, response: {}}\n"),
            "t.yaml:2:20: routes[0].match.path: \"*\" is not a path: OPTIONS * requests match "
            "the routes that have neither path nor prefix");
  EXPECT_EQ(parse_error("routes:\n  - {match: {path: \"/a?b=1\"}, response: {}}\n"),
            "t.yaml:2:20: routes[0].match.path: must not contain \"?\" or \"#\": a route matches "
            "the path before the query");
  EXPECT_EQ(parse_error("routes:\n  - {match: {path: \"/caf\xc3\xa9\"}, response: {}}\n"),
            "t.yaml:2:20: routes[0].match.path: must hold only visible ASCII characters, as a "
            "request target does (RFC 9112 §3.2); percent-encode other bytes as clients send "
            "them, e.g. /caf%C3%A9");
  EXPECT_FALSE(parse_config("routes: [{match: {path: \"/a b\"}, response: {}}]", kFile).ok());
  EXPECT_FALSE(parse_config("routes: [{match: {path: [/a]}, response: {}}]", kFile).ok());
}

TEST(ConfigRoutesRefused, Methods) {
  EXPECT_EQ(parse_error("routes:\n  - {match: {methods: [get]}, response: {}}\n"),
            "t.yaml:2:24: routes[0].match.methods[0]: methods are case-sensitive (RFC 9110 "
            "§9.1): \"get\" never arrives, \"GET\" does");
  EXPECT_EQ(parse_error("routes:\n  - {match: {methods: [GET, \"G T\"]}, response: {}}\n"),
            "t.yaml:2:29: routes[0].match.methods[1]: not a method: RFC 9110 §9.1 methods are "
            "tokens (letters, digits and !#$%&'*+-.^_`|~), got \"G T\"");
  const std::string unknown =
      parse_error("routes:\n  - {match: {methods: [FETCH]}, response: {}}\n");
  EXPECT_EQ(unknown.rfind("t.yaml:2:24: routes[0].match.methods[0]: \"FETCH\" can never match: "
                          "hellod's HTTP parser (llhttp) answers any method but these with 400: "
                          "DELETE, GET, HEAD, POST, PUT, CONNECT, OPTIONS, TRACE, ",
                          0),
            0U)
      << unknown;
  EXPECT_NE(unknown.find(", M-SEARCH, "), std::string::npos) << unknown;
  EXPECT_EQ(parse_error("routes:\n  - {match: {methods: [GET, GET]}, response: {}}\n"),
            "t.yaml:2:29: routes[0].match.methods[1]: duplicate method \"GET\"");
  EXPECT_EQ(parse_error("routes:\n  - {match: {methods: []}, response: {}}\n"),
            "t.yaml:2:23: routes[0].match.methods: expected at least one method; omit methods "
            "to match every method");
  EXPECT_EQ(parse_error("routes:\n  - {match: {methods: {GET: 1}}, response: {}}\n"),
            "t.yaml:2:23: routes[0].match.methods: expected a method or a list of methods, got "
            "a map");
  EXPECT_FALSE(parse_config("routes: [{match: {methods: [PRI]}, response: {}}]", kFile).ok());
}

TEST(ConfigRoutesRefused, Hosts) {
  const auto host_error = [](const std::string& host) {
    return parse_error("routes:\n  - {match: {host: \"" + host + "\"}, response: {}}\n");
  };
  const std::string at = "t.yaml:2:20: routes[0].match.host: ";
  EXPECT_EQ(host_error("example.com:8080"),
            at + "a host pattern has no port: the Host header is compared without its port");
  EXPECT_EQ(host_error("[::1]:8080"),
            at + "a host pattern has no port: the Host header is compared without its port");
  EXPECT_EQ(host_error("*"), at + "omit host to match every host; a pattern such as "
                                  "\"*.example.com\" matches the subdomains of a domain");
  EXPECT_EQ(host_error(""), at + "omit host to match every host; a pattern such as "
                                 "\"*.example.com\" matches the subdomains of a domain");
  EXPECT_EQ(host_error("a.*.com"),
            at + "\"*\" may only stand alone as the first label, as in \"*.example.com\"");
  EXPECT_EQ(host_error("*example.com"),
            at + "\"*\" may only stand alone as the first label, as in \"*.example.com\"");
  EXPECT_EQ(host_error("example.com."),
            at + "must not end with \".\" (a trailing dot in the Host header is ignored)");
  EXPECT_EQ(host_error("a..b"), at + "a host name has no empty labels (\"..\" or a leading \".\")");
  EXPECT_EQ(host_error("[::g]"),
            at + "expected an IPv6 address in brackets such as \"[::1]\", got \"[::g]\"");
  EXPECT_EQ(host_error("b\xc3\xbc"
                       "cher.de"),
            at + "not a host name: \"b\xc3\xbc"
                 "cher.de\" (letters, digits, \"-\", \"_\" and "
                 "\".\"; write an internationalised name in its xn-- form)");
  EXPECT_EQ(host_error(std::string(254, 'a')), at + "longer than 253 characters");
  EXPECT_FALSE(parse_config("routes: [{match: {host: \"*.\"}, response: {}}]", kFile).ok());
  EXPECT_FALSE(parse_config("routes: [{match: {host: \"[::1\"}, response: {}}]", kFile).ok());
}

TEST(ConfigRoutesRefused, ShadowedRoutesNameBothPositions) {
  EXPECT_EQ(parse_error("routes:\n  - name: health\n    match: {path: /healthz}\n    response: {}\n"
                        "  - match: {path: /healthz}\n    response: {}\n"),
            "t.yaml:5:5: routes[1]: duplicate exact path \"/healthz\": route \"health\" "
            "(routes[0], t.yaml:2:5) comes first with the same path and the same or wider "
            "methods and host, so this route can never match");
  EXPECT_EQ(parse_error("routes:\n  - {match: {prefix: /api/}, response: {}}\n"
                        "  - {name: v1, match: {path: /api/v1, methods: [GET]}, response: {}}\n"),
            "t.yaml:3:5: routes[1]: route \"v1\" can never match: route \"route1\" (routes[0], "
            "t.yaml:2:5) comes first and matches every request it would (same or wider path, "
            "methods and host)");
  EXPECT_EQ(parse_error("routes:\n  - {response: {}}\n  - {match: {prefix: /}, response: {}}\n"),
            "t.yaml:3:5: routes[1]: route \"route2\" can never match: route \"route1\" "
            "(routes[0], t.yaml:2:5) comes first and matches every request it would (same or "
            "wider path, methods and host)");
  EXPECT_EQ(parse_error("routes:\n  - {match: {path: /x}, response: {}}\n"
                        "  - {match: {path: /a, methods: [GET, HEAD]}, response: {}}\n"
                        "  - {match: {path: /a, methods: [HEAD]}, response: {}}\n"),
            "t.yaml:4:5: routes[2]: duplicate exact path \"/a\": route \"route2\" (routes[1], "
            "t.yaml:3:5) comes first with the same path and the same or wider methods and "
            "host, so this route can never match");
  EXPECT_EQ(parse_error("routes:\n  - {match: {prefix: /, host: \"*.Example.com\"}, response: {}}\n"
                        "  - {match: {prefix: /a, host: b.c.example.COM}, response: {}}\n"),
            "t.yaml:3:5: routes[1]: route \"route2\" can never match: route \"route1\" "
            "(routes[0], t.yaml:2:5) comes first and matches every request it would (same or "
            "wider path, methods and host)");
}

TEST(ConfigRoutesRefused, APrefixCoveringAnExactPathIsNoDuplicatePath) {
  EXPECT_EQ(parse_error("routes:\n  - {match: {prefix: /}, response: {}}\n"
                        "  - {match: {path: /}, response: {}}\n"),
            "t.yaml:3:5: routes[1]: route \"route2\" can never match: route \"route1\" "
            "(routes[0], t.yaml:2:5) comes first and matches every request it would (same or "
            "wider path, methods and host)");
}

TEST(ConfigRoutesRefused, TheEarliestCoveringRouteIsNamed) {
  EXPECT_EQ(parse_error("routes:\n  - {match: {prefix: /}, response: {}}\n"
                        "  - {match: {path: /b, host: x.org}, response: {}}\n"),
            "t.yaml:3:5: routes[1]: route \"route2\" can never match: route \"route1\" "
            "(routes[0], t.yaml:2:5) comes first and matches every request it would (same or "
            "wider path, methods and host)");
}

TEST(ConfigRoutesRefused, Health) {
  EXPECT_EQ(parse_error("health:\n  path: /healthz\n"),
            "t.yaml:2:9: health.path: \"/healthz\" is no route's exact path; add a route with "
            "match: {path: /healthz}");
  EXPECT_EQ(parse_error("routes: [{match: {prefix: /healthz}, response: {}}]\n"
                        "health: {path: /healthz}\n"),
            "t.yaml:2:16: health.path: \"/healthz\" is no route's exact path; add a route with "
            "match: {path: /healthz}");
  EXPECT_EQ(parse_error("health: {path: healthz}\n"),
            "t.yaml:1:16: health.path: must start with \"/\" (the path of a request target, RFC "
            "9112 §3.2), got \"healthz\"");
  EXPECT_EQ(parse_error("health:\n  drain: 10s\n"),
            "t.yaml:2:10: health.drain: a drain needs health.path: without a health route no "
            "load balancer can see hellod stopping");
  EXPECT_EQ(parse_error("health: {drain: 25h}\n"),
            "t.yaml:1:17: health.drain: must be at most 24h, got \"25h\"");
  EXPECT_EQ(parse_error("health: {drain: -1s}\n"),
            "t.yaml:1:17: health.drain: expected a duration such as \"250ms\", \"10s\", \"2m\", "
            "\"1h\" or a number of seconds, got \"-1s\"");
  EXPECT_EQ(parse_error("health: {timeout: 1s}\n"),
            "t.yaml:1:10: health.timeout: unknown key \"timeout\" (known keys: path, drain)");
}

}  // namespace
}  // namespace hellod
