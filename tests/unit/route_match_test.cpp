// SPDX-License-Identifier: MIT
#include "route_match.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config.hpp"
#include "route_configs.hpp"

namespace hellod {
namespace {

using test::any;
using test::exact;
using test::prefix;

// --- hosts ----------------------------------------------------------------

TEST(HostForMatching, StripsPortDotAndWhitespace) {
  EXPECT_EQ(host_for_matching("example.com"), "example.com");
  EXPECT_EQ(host_for_matching("example.com:8080"), "example.com");
  EXPECT_EQ(host_for_matching("example.com."), "example.com");
  EXPECT_EQ(host_for_matching("example.com.:80"), "example.com");
  EXPECT_EQ(host_for_matching(" example.com \t"), "example.com");
  EXPECT_EQ(host_for_matching("[::1]:8080"), "[::1]");
  EXPECT_EQ(host_for_matching("[::1]"), "[::1]");
  EXPECT_EQ(host_for_matching("[::1"), "[::1");
  EXPECT_EQ(host_for_matching("127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(host_for_matching(""), "");
  EXPECT_EQ(host_for_matching("  "), "");
}

TEST(HostPatternTest, ExactIsCaseInsensitive) {
  const HostPattern pattern("example.com");
  EXPECT_TRUE(pattern.matches("example.com"));
  EXPECT_TRUE(pattern.matches("EXAMPLE.Com"));
  EXPECT_FALSE(pattern.matches("a.example.com"));
  EXPECT_FALSE(pattern.matches("example.co"));
  EXPECT_FALSE(pattern.matches(""));
}

TEST(HostPatternTest, WildcardMatchesSubdomainsOnly) {
  const HostPattern pattern("*.example.com");
  EXPECT_TRUE(pattern.matches("a.example.com"));
  EXPECT_TRUE(pattern.matches("A.EXAMPLE.COM"));
  EXPECT_TRUE(pattern.matches("x.b.example.com"));
  EXPECT_FALSE(pattern.matches("example.com"));
  EXPECT_FALSE(pattern.matches(".example.com"));
  EXPECT_FALSE(pattern.matches("badexample.com"));
  EXPECT_FALSE(pattern.matches("example.com.evil"));
}

TEST(HostPatternTest, AnyMatchesEverythingEvenNoHost) {
  const HostPattern pattern;
  EXPECT_TRUE(pattern.matches(""));
  EXPECT_TRUE(pattern.matches("anything"));
}

TEST(HostPatternTest, Covers) {
  const HostPattern any;
  const HostPattern wide("*.example.com");
  const HostPattern deep("*.b.example.com");
  const HostPattern sub("a.example.com");
  const HostPattern apex("example.com");
  EXPECT_TRUE(any.covers(wide));
  EXPECT_TRUE(any.covers(any));
  EXPECT_FALSE(wide.covers(any));
  EXPECT_TRUE(wide.covers(wide));
  EXPECT_TRUE(wide.covers(deep));
  EXPECT_TRUE(wide.covers(sub));
  EXPECT_FALSE(wide.covers(apex));
  EXPECT_FALSE(deep.covers(wide));
  EXPECT_FALSE(deep.covers(sub));
  EXPECT_TRUE(apex.covers(apex));
  EXPECT_FALSE(apex.covers(sub));
  EXPECT_FALSE(sub.covers(wide));
}

// --- coverage (shadowed routes) ----------------------------------------------

TEST(Covers, Paths) {
  EXPECT_TRUE(covers(any().match, exact("/a").match));
  EXPECT_TRUE(covers(any().match, prefix("/a").match));
  EXPECT_TRUE(covers(any().match, any().match));
  EXPECT_TRUE(covers(exact("/a").match, exact("/a").match));
  EXPECT_FALSE(covers(exact("/a").match, exact("/b").match));
  EXPECT_FALSE(covers(exact("/a").match, prefix("/a").match));
  EXPECT_FALSE(covers(exact("/a").match, any().match));
  EXPECT_TRUE(covers(prefix("/a").match, exact("/a").match));
  EXPECT_TRUE(covers(prefix("/a").match, exact("/a/b").match));
  EXPECT_TRUE(covers(prefix("/a").match, prefix("/ab").match));
  EXPECT_FALSE(covers(prefix("/a/").match, exact("/a").match));
  EXPECT_FALSE(covers(prefix("/ab").match, prefix("/a").match));
  // OPTIONS * and CONNECT have no path: only an any-path route answers them.
  EXPECT_FALSE(covers(prefix("/").match, any().match));
}

TEST(Covers, Methods) {
  EXPECT_TRUE(covers(exact("/a").match, exact("/a", {"GET"}).match));
  EXPECT_TRUE(covers(exact("/a", {"GET", "HEAD"}).match, exact("/a", {"HEAD"}).match));
  EXPECT_TRUE(covers(exact("/a", {"GET", "HEAD"}).match, exact("/a", {"HEAD", "GET"}).match));
  EXPECT_FALSE(covers(exact("/a", {"GET"}).match, exact("/a").match));
  EXPECT_FALSE(covers(exact("/a", {"GET"}).match, exact("/a", {"GET", "POST"}).match));
  EXPECT_FALSE(covers(exact("/a", {"GET"}).match, exact("/a", {"POST"}).match));
}

TEST(Covers, Hosts) {
  EXPECT_TRUE(covers(exact("/a").match, exact("/a", {}, "x.org").match));
  EXPECT_FALSE(covers(exact("/a", {}, "x.org").match, exact("/a").match));
  EXPECT_FALSE(covers(exact("/a", {}, "x.org").match, exact("/a", {}, "y.org").match));
  EXPECT_TRUE(covers(exact("/a", {}, "*.x.org").match, exact("/a", {}, "w.x.org").match));
  EXPECT_FALSE(covers(exact("/a", {}, "*.x.org").match, exact("/a", {}, "x.org").match));
}

TEST(Covers, AllThreeMustCover) {
  EXPECT_TRUE(covers(prefix("/api/", {"GET", "HEAD"}, "*.example.com").match,
                     exact("/api/v1", {"GET"}, "a.example.com").match));
  EXPECT_FALSE(covers(prefix("/api/", {"GET", "HEAD"}, "*.example.com").match,
                      exact("/api/v1", {"GET"}, "example.com").match));
  EXPECT_FALSE(covers(prefix("/api/", {"GET", "HEAD"}, "*.example.com").match,
                      exact("/api/v1", {"PUT"}, "a.example.com").match));
  EXPECT_FALSE(covers(prefix("/api/", {"GET", "HEAD"}, "*.example.com").match,
                      exact("/apx", {"GET"}, "a.example.com").match));
}

// --- methods and validators (their messages are tested with positions in
// config_routes_test.cpp) ---------------------------------------------------------

TEST(MethodMatches, AbsentMeansEveryMethod) {
  EXPECT_TRUE(method_matches({}, "GET"));
  EXPECT_TRUE(method_matches({}, "ANYTHING"));
  EXPECT_TRUE(method_matches({"GET", "POST"}, "POST"));
  EXPECT_FALSE(method_matches({"GET", "POST"}, "HEAD"));
  EXPECT_FALSE(method_matches({"GET"}, "get"));
  EXPECT_FALSE(method_matches({"GET"}, ""));
}

TEST(Validators, Paths) {
  for (const char* good : {"/", "/a", "/a/", "/caf%C3%A9", "/a;b=c", "/~user/.x"}) {
    EXPECT_FALSE(route_path_problem(good).has_value()) << good;
  }
  for (const char* bad : {"", "a", "*", "/a?b", "/a#b", "/a b", "/a\tb", "/\x7f", "/\xc3\xa9"}) {
    EXPECT_TRUE(route_path_problem(bad).has_value()) << bad;
  }
}

TEST(Validators, HostPatterns) {
  for (const char* good :
       {"example.com", "EXAMPLE.com", "*.example.com", "*.com", "localhost", "127.0.0.1", "[::1]",
        "[2001:db8::1]", "a_b.internal", "xn--bcher-kva.de"}) {
    EXPECT_FALSE(host_pattern_problem(good).has_value()) << good;
  }
  for (const char* bad : {"", "*", "*.", "a.*", "a.*.b", "*a.b", "**.a", "a:80", "[::1]:80", "[::1",
                          "[x]", "a.", ".a", "a..b", "a b", "a/b"}) {
    EXPECT_TRUE(host_pattern_problem(bad).has_value()) << bad;
  }
  EXPECT_EQ(lower_case("A.B-C_d"), "a.b-c_d");
}

TEST(Validators, Methods) {
  for (const char* good :
       {"GET", "HEAD", "POST", "OPTIONS", "CONNECT", "M-SEARCH", "PATCH", "PURGE", "SOURCE"}) {
    EXPECT_FALSE(method_problem(good).has_value()) << good;
  }
  // PRI is HTTP/2's preface and the RTSP methods are llhttp's RTSP mode:
  // an HTTP/1.1 request never carries them.
  for (const char* bad : {"", "get", "G ET", "FETCH", "PRI", "DESCRIBE", "GET\n"}) {
    EXPECT_TRUE(method_problem(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace hellod
