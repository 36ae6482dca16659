// SPDX-License-Identifier: MIT
#include "route_table.hpp"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "config.hpp"
#include "route_configs.hpp"
#include "route_match.hpp"

// Every operator new in this test binary is counted, so a test can prove
// that matching allocates nothing.
namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
// GCC sees free() of what its built-in operator new returned; here both are
// ours, and the pair matches.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* memory) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::size_t /*size*/) noexcept {
  std::free(memory);
}
#pragma GCC diagnostic pop

namespace hellod {
namespace {

using Kind = RouteMatch::PathKind;
constexpr std::size_t kNone = RouteTable::kNoRoute;

using test::any;
using test::exact;
using test::prefix;

RouteTable table_of(const std::vector<RouteConfig>& routes, std::string_view health = {}) {
  return RouteTable(routes, health);
}

TEST(RouteTableTest, NoRoutesMeansTheTopLevelResponse) {
  const RouteTable table;
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(table.match("GET", "/", "h"), kNone);
  EXPECT_FALSE(table.is_health(0));
  EXPECT_FALSE(table.is_health(kNone));
}

TEST(RouteTableTest, ExactPathIsComparedByteForByte) {
  const auto table = table_of({exact("/healthz"), exact("/robots.txt")});
  EXPECT_EQ(table.match("GET", "/healthz", "h"), 0U);
  EXPECT_EQ(table.match("GET", "/robots.txt", "h"), 1U);
  EXPECT_EQ(table.match("GET", "/healthz/", "h"), kNone);
  EXPECT_EQ(table.match("GET", "/Healthz", "h"), kNone);
  EXPECT_EQ(table.match("GET", "/%68ealthz", "h"), kNone);
  EXPECT_EQ(table.match("GET", "/health", "h"), kNone);
  EXPECT_EQ(table.match("GET", "", "h"), kNone);
}

TEST(RouteTableTest, PrefixMatchesEveryPathStartingWithIt) {
  const auto table = table_of({prefix("/api/")});
  EXPECT_EQ(table.match("GET", "/api/", "h"), 0U);
  EXPECT_EQ(table.match("GET", "/api/v1/x", "h"), 0U);
  EXPECT_EQ(table.match("GET", "/api", "h"), kNone);
  EXPECT_EQ(table.match("GET", "/apix", "h"), kNone);
}

TEST(RouteTableTest, AnyPathRouteMatchesAsteriskAndNoPath) {
  const auto table = table_of({exact("/a"), prefix("/"), any({"OPTIONS", "CONNECT"})});
  EXPECT_EQ(table.match("OPTIONS", "*", "h"), 2U);
  EXPECT_EQ(table.match("CONNECT", "", "h"), 2U);
  EXPECT_EQ(table.match("OPTIONS", "/x", "h"), 1U);
  EXPECT_EQ(table.match("GET", "*", "h"), kNone);
  EXPECT_EQ(table_of({exact("/a"), prefix("/")}).match("OPTIONS", "*", "h"), kNone);
}

TEST(RouteTableTest, FirstMatchInFileOrderWins) {
  // A prefix before an exact path answers for it, and the other way round.
  EXPECT_EQ(table_of({prefix("/a"), exact("/a/b")}).match("GET", "/a/b", "h"), 0U);
  EXPECT_EQ(table_of({exact("/a/b"), prefix("/a")}).match("GET", "/a/b", "h"), 0U);
  EXPECT_EQ(table_of({exact("/a/b"), prefix("/a")}).match("GET", "/a/c", "h"), 1U);
  EXPECT_EQ(
      table_of({prefix("/a/", {"POST"}), exact("/a/b"), prefix("/")}).match("GET", "/a/b", "h"),
      1U);
  EXPECT_EQ(table_of({any({"DELETE"}), exact("/x"), any()}).match("DELETE", "/x", "h"), 0U);
  EXPECT_EQ(table_of({any({"DELETE"}), exact("/x"), any()}).match("GET", "/x", "h"), 1U);
  EXPECT_EQ(table_of({any({"DELETE"}), exact("/x"), any()}).match("GET", "/y", "h"), 2U);
  // The longer prefix does not win by length: file order does.
  EXPECT_EQ(table_of({prefix("/a"), prefix("/a/b")}).match("GET", "/a/b/c", "h"), 0U);
}

TEST(RouteTableTest, SameExactPathPerHost) {
  const auto table =
      table_of({exact("/", {}, "a.example.com"), exact("/", {}, "*.example.com"), exact("/")});
  EXPECT_EQ(table.match("GET", "/", "a.example.com"), 0U);
  EXPECT_EQ(table.match("GET", "/", "b.example.com"), 1U);
  EXPECT_EQ(table.match("GET", "/", "example.com"), 2U);
  EXPECT_EQ(table.match("GET", "/", ""), 2U);
}

TEST(RouteTableTest, MethodsAreCaseSensitiveAndHeadIsNotImplied) {
  const auto table = table_of({exact("/a", {"GET"}), exact("/a", {"HEAD", "POST"})});
  EXPECT_EQ(table.match("GET", "/a", "h"), 0U);
  EXPECT_EQ(table.match("HEAD", "/a", "h"), 1U);
  EXPECT_EQ(table.match("POST", "/a", "h"), 1U);
  EXPECT_EQ(table.match("get", "/a", "h"), kNone);
  EXPECT_EQ(table.match("PUT", "/a", "h"), kNone);
}

TEST(RouteTableTest, HostWithPortCaseAndWildcard) {
  const auto table = table_of(
      {prefix("/", {}, "*.example.com"), prefix("/", {}, "example.com"), prefix("/", {}, "[::1]")});
  EXPECT_EQ(table.match("GET", "/", "a.example.com:8080"), 0U);
  EXPECT_EQ(table.match("GET", "/", "A.B.Example.COM"), 0U);
  EXPECT_EQ(table.match("GET", "/", "EXAMPLE.com:80"), 1U);
  EXPECT_EQ(table.match("GET", "/", "example.com."), 1U);
  EXPECT_EQ(table.match("GET", "/", "[::1]:8080"), 2U);
  EXPECT_EQ(table.match("GET", "/", "[::2]:8080"), kNone);
  EXPECT_EQ(table.match("GET", "/", "notexample.com"), kNone);
  EXPECT_EQ(table.match("GET", "/", ""), kNone);
}

TEST(RouteTableTest, HealthRoutesAreThoseWithTheHealthPath) {
  const auto table =
      table_of({exact("/healthz", {}, "a.org"), prefix("/healthz"), exact("/healthz"), exact("/x")},
               "/healthz");
  EXPECT_TRUE(table.is_health(0));
  EXPECT_FALSE(table.is_health(1));  // a prefix is never the health route
  EXPECT_TRUE(table.is_health(2));
  EXPECT_FALSE(table.is_health(3));
  EXPECT_FALSE(table.is_health(kNone));
  EXPECT_FALSE(table_of({exact("/healthz")}).is_health(0));
}

std::vector<RouteConfig> many_exact_routes(std::size_t count) {
  std::vector<RouteConfig> routes;
  routes.reserve(count);
  for (std::size_t i = 0; i < count; ++i) routes.push_back(exact("/r" + std::to_string(i)));
  return routes;
}

TEST(RouteTableTest, AThousandExactRoutesEachFindTheirOwn) {
  const auto table = table_of(many_exact_routes(1000));
  for (std::size_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(table.match("GET", "/r" + std::to_string(i), "h"), i);
  }
  EXPECT_EQ(table.match("GET", "/r1000", "h"), kNone);
}

TEST(RouteTableTest, MatchingAllocatesNothing) {
  auto routes = many_exact_routes(100);
  routes.push_back(prefix("/api/", {"GET", "HEAD"}, "*.example.com"));
  routes.push_back(exact("/a-rather-long-path-beyond-any-small-string-buffer/x", {"GET"}));
  routes.push_back(any({"OPTIONS"}));
  const RouteTable table(routes, "/r1");
  const std::string long_path = "/a-rather-long-path-beyond-any-small-string-buffer/x";
  const std::size_t before = g_allocations.load();
  std::size_t found = 0;
  for (int i = 0; i < 100; ++i) {
    found += table.match("GET", "/r50", "host:80");
    found += table.match("GET", "/api/v1", "x.example.com");
    found += table.match("GET", long_path, "[::1]:80");
    found += table.match("OPTIONS", "*", "");
    found += table.match("GET", "/nowhere/at/all", "a.b");
    found += static_cast<std::size_t>(table.is_health(1));
    found += request_path("http://h/a?b").size();
  }
  EXPECT_EQ(g_allocations.load() - before, 0U);
  EXPECT_GT(found, 0U);
}

// The reference: every route in file order, each filter as the manual
// states it, with nothing indexed.
std::size_t first_in_file_order(const std::vector<RouteConfig>& routes, std::string_view method,
                                std::string_view path, std::string_view host_header) {
  const std::string_view host = host_for_matching(host_header);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RouteMatch& m = routes[i].match;
    const bool path_ok = m.path_kind == Kind::any ||
                         (m.path_kind == Kind::exact && path == m.path) ||
                         (m.path_kind == Kind::prefix && path.starts_with(m.path));
    if (path_ok && method_matches(m.methods, method) && HostPattern(m.host).matches(host)) return i;
  }
  return kNone;
}

// llhttp's number for a method name, as RequestParser::method_number() gives it.
unsigned llhttp_number(std::string_view method) {
  for (unsigned n = 0; n <= HTTP_FLUSH; ++n) {
    if (method == llhttp_method_name(static_cast<llhttp_method_t>(n))) return n;
  }
  ADD_FAILURE() << "not an llhttp method: " << method;
  return 0;
}

// The exact-path index and the method bits against the plain ordered scan,
// on tables where the first match is not the exact path's first route:
// prefix and any-path routes before exact ones, method- and host-restricted
// exact routes sharing a path, many paths colliding in few slots.
TEST(RouteTableTest, IndexAgreesWithTheOrderedScanOnTrickyTables) {
  const std::vector<std::vector<RouteConfig>> tables{
      {prefix("/a"), exact("/a"), exact("/a/b")},
      {exact("/a", {"POST"}), prefix("/a", {"GET"}), exact("/a"), any()},
      {exact("/x", {}, "a.test"), exact("/x", {"GET", "HEAD"}), prefix("/", {}, "*.test"),
       exact("/x"), exact("/y", {}, "[::1]")},
      {any({"DELETE"}), exact("/"), prefix("/", {"PUT"}, "b.test"), exact("/", {"PUT"})},
      {exact("/p2"), exact("/p3"), exact("/p1", {"GET"}), prefix("/p1", {"M-SEARCH"}), exact("/p1"),
       exact("/p10")},
      many_exact_routes(37),
  };
  const std::vector<std::string_view> methods{"GET",    "HEAD",     "POST",   "PUT",
                                              "DELETE", "M-SEARCH", "OPTIONS"};
  const std::vector<std::string_view> paths{"/",    "/a",  "/a/b", "/ab",  "/x",   "/y", "/p1",
                                            "/p10", "/p2", "/r0",  "/r36", "/r37", "",   "*"};
  const std::vector<std::string_view> hosts{"",        "a.test",     "A.Test:80", "b.test",
                                            "c.test.", "[::1]:8080", "test"};
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const RouteTable table(tables[t]);
    for (const std::string_view method : methods) {
      for (const std::string_view path : paths) {
        for (const std::string_view host : hosts) {
          const std::size_t expected = first_in_file_order(tables[t], method, path, host);
          ASSERT_EQ(table.match(method, path, host), expected)
              << "table " << t << ": " << method << " " << path << " Host: " << host;
          ASSERT_EQ(table.match(llhttp_number(method), path, host), expected)
              << "table " << t << ": " << method << " " << path << " Host: " << host;
        }
      }
    }
  }
}

// A table built outside the config reader may list a method llhttp never
// parses: only that exact name matches it.
TEST(RouteTableTest, MethodsLlhttpDoesNotKnowCompareByName) {
  const auto table = table_of({exact("/a", {"BREW"}), exact("/a", {"GET"})});
  EXPECT_EQ(table.match("BREW", "/a", "h"), 0U);
  EXPECT_EQ(table.match("GET", "/a", "h"), 1U);
  EXPECT_EQ(table.match("brew", "/a", "h"), kNone);
}

TEST(RouteTableTest, UsesHostOnlyWhenSomeRouteFiltersOnIt) {
  EXPECT_FALSE(table_of({exact("/a"), prefix("/b", {"GET"})}).uses_host());
  EXPECT_TRUE(table_of({exact("/a"), prefix("/b", {}, "*.test")}).uses_host());
  EXPECT_FALSE(RouteTable().uses_host());
}

// Not a timed assertion (unit tests never assert on time): a report of the
// cost of one match with 1, 10 and 1,000 exact routes, as a regression hint.
TEST(RouteTableTest, ReportsMatchCostByRouteCount) {
  constexpr int kMatches = 200'000;
  for (const std::size_t count : {1U, 10U, 1000U}) {
    const auto table = table_of(many_exact_routes(count));
    const std::string hit = "/r" + std::to_string(count / 2);
    std::size_t sink = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kMatches; ++i) sink += table.match("GET", hit, "example.com:8080");
    const std::chrono::duration<double, std::nano> elapsed =
        std::chrono::steady_clock::now() - start;
    std::printf("route match, %zu exact routes: %.1f ns per match (%zu)\n", count,
                elapsed.count() / kMatches, sink);
    RecordProperty("ns_per_match_" + std::to_string(count),
                   std::to_string(elapsed.count() / kMatches));
  }
}

}  // namespace
}  // namespace hellod
