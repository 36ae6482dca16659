// SPDX-License-Identifier: MIT
#include "route_path.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace hellod {
namespace {

TEST(RequestPath, OriginForm) {
  EXPECT_EQ(request_path("/"), "/");
  EXPECT_EQ(request_path("/a/b"), "/a/b");
  EXPECT_EQ(request_path("/a/b?x=1&y"), "/a/b");
  EXPECT_EQ(request_path("/a?"), "/a");
  EXPECT_EQ(request_path("/a#frag"), "/a");
  EXPECT_EQ(request_path("/a%20b/../c"), "/a%20b/../c");  // bytes as sent: not decoded
}

TEST(RequestPath, AbsoluteForm) {
  EXPECT_EQ(request_path("http://h/a?b"), "/a");
  EXPECT_EQ(request_path("http://example.com:8080/x/y"), "/x/y");
  EXPECT_EQ(request_path("HTTPS://h/s"), "/s");
  // RFC 9110 §4.2.3: an empty path is "/".
  EXPECT_EQ(request_path("http://h"), "/");
  EXPECT_EQ(request_path("http://h?q"), "/");
  EXPECT_EQ(request_path("http://h:80"), "/");
}

TEST(RequestPath, AsteriskAuthorityAndJunk) {
  EXPECT_EQ(request_path("*"), "*");
  EXPECT_EQ(request_path("example.com:443"), "");
  EXPECT_EQ(request_path(""), "");
  EXPECT_EQ(request_path("a/b"), "");
  EXPECT_EQ(request_path("://h/a"), "");
  EXPECT_EQ(request_path("1http://h/a"), "");
}

// route_path() hashes the path in the same pass that finds its end: the
// hash must be the one the table was built with, whatever the target's form.
TEST(RoutePath, HashIsThePathHash) {
  for (const std::string_view target : {"/", "/a/b", "/a/b?x=1", "/a#f", "/abcdefghijklmnopq?r",
                                        "http://h/a?b", "*", "h:443", ""}) {
    const RoutePath path = route_path(target);
    EXPECT_EQ(path.path, request_path(target)) << target;
    EXPECT_EQ(path.hash, path_hash(path.path)) << target;
  }
  EXPECT_NE(route_path("/a").hash, route_path("/b").hash);
}

// same_bytes() compares in words that overlap at the end: a difference at
// any position of any length up to three words is seen.
TEST(SameBytes, SeesADifferenceAtEveryPosition) {
  const std::string text = "/abcdefghijklmnopqrstuvwxyz";
  for (std::size_t size = 0; size <= 24; ++size) {
    const std::string a = text.substr(0, size);
    EXPECT_TRUE(same_bytes(a, std::string(a))) << size;
    EXPECT_FALSE(same_bytes(a, text.substr(0, size + 1))) << size;
    for (std::size_t at = 0; at < size; ++at) {
      std::string b = a;
      b[at] = static_cast<char>(b[at] ^ 0x20);
      EXPECT_FALSE(same_bytes(a, b)) << size << " at " << at;
    }
  }
}

// RFC 9112 §3.3: an absolute-form target is the target URI, so its
// authority names the host and the Host header is ignored (§3.2.2).
TEST(RequestAuthority, AbsoluteFormOnly) {
  EXPECT_EQ(request_authority("http://a.example.com/x"), "a.example.com");
  EXPECT_EQ(request_authority("HTTP://Example.COM:8080/x?y"), "Example.COM:8080");
  EXPECT_EQ(request_authority("http://h"), "h");
  EXPECT_EQ(request_authority("http://h?q"), "h");
  EXPECT_EQ(request_authority("http://h#f"), "h");
  EXPECT_EQ(request_authority("http://[::1]:80/"), "[::1]:80");
  EXPECT_EQ(request_authority("http:///x"), "");
  // userinfo is not part of the host (RFC 9110 §4.2.4).
  EXPECT_EQ(request_authority("http://user:pw@a.test/v"), "a.test");
  EXPECT_EQ(request_authority("/a/b"), std::nullopt);
  EXPECT_EQ(request_authority("*"), std::nullopt);
  EXPECT_EQ(request_authority("example.com:443"), std::nullopt);
  EXPECT_EQ(request_authority("1http://h/a"), std::nullopt);
  EXPECT_EQ(request_authority(""), std::nullopt);
}

TEST(RequestPath, ReturnsAViewIntoTheTarget) {
  const std::string target = "/abc?d";
  EXPECT_EQ(request_path(target).data(), target.data());
}

}  // namespace
}  // namespace hellod
