// SPDX-License-Identifier: MIT
// metrics: and log.access: text | json, the keys of the observability issue.
#include <gtest/gtest.h>

#include "config.hpp"
#include "config_values.hpp"

namespace hellod {
namespace {

Config parse_ok(std::string_view yaml) {
  auto result = parse_config(yaml, "t.yaml");
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : Config{};
}

std::string parse_error(std::string_view yaml) {
  auto result = parse_config(yaml, "t.yaml");
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  return result.ok() ? "" : result.error().message;
}

ListenAddress address(std::string_view text) {
  auto parsed = parse_listen_address(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return parsed.ok() ? parsed.value() : ListenAddress{};
}

TEST(ConfigAccessLog, Formats) {
  EXPECT_EQ(parse_ok("log: {access: false}").log.access, AccessLogFormat::off);
  EXPECT_EQ(parse_ok("log: {access: true}").log.access, AccessLogFormat::text);
  EXPECT_EQ(parse_ok("log: {access: text}").log.access, AccessLogFormat::text);
  EXPECT_EQ(parse_ok("log: {access: json}").log.access, AccessLogFormat::json);
  EXPECT_EQ(parse_error("log: {access: JSON}"),
            "t.yaml:1:15: log.access: expected false, true, text or json, got \"JSON\"");
  EXPECT_EQ(parse_error("log: {access: [json]}"),
            "t.yaml:1:15: log.access: expected false, true, text or json, got a sequence");
}

TEST(ConfigMetrics, OffByDefaultAndWhenEmpty) {
  EXPECT_FALSE(Config{}.metrics.enabled());
  EXPECT_EQ(Config{}.metrics.path, "/metrics");
  EXPECT_EQ(parse_ok("metrics:\n"), Config{});
}

TEST(ConfigMetrics, ListenAndPath) {
  const Config c = parse_ok(
      "listen: [\"127.0.0.1:8080\"]\n"
      "metrics:\n  listen: [\"127.0.0.1:9464\", \"unix:/run/m.sock\"]\n  path: /internal/m\n");
  EXPECT_TRUE(c.metrics.enabled());
  ASSERT_EQ(c.metrics.listen.size(), 2U);
  EXPECT_EQ(c.metrics.listen[0].to_string(), "127.0.0.1:9464");
  EXPECT_EQ(c.metrics.listen[1].to_string(), "unix:/run/m.sock");
  EXPECT_EQ(c.metrics.path, "/internal/m");
}

TEST(ConfigMetrics, SingleAddressAndDefaultPath) {
  const Config c = parse_ok("metrics: {listen: \"[::1]:9464\"}\n");
  ASSERT_EQ(c.metrics.listen.size(), 1U);
  EXPECT_EQ(c.metrics.listen[0].to_string(), "[::1]:9464");
  EXPECT_EQ(c.metrics.path, "/metrics");
}

TEST(ConfigMetrics, Errors) {
  EXPECT_EQ(parse_error("metrics: {path: /m}\n"),
            "t.yaml:1:10: metrics: listen: is required (e.g. listen: [\"127.0.0.1:9464\"])");
  EXPECT_EQ(parse_error("metrics:\n  listen: [\"localhost:9464\"]\n"),
            "t.yaml:2:12: metrics.listen[0]: expected a numeric IPv4 address (host names are not "
            "resolved), got \"localhost:9464\"");
  EXPECT_EQ(parse_error("metrics:\n  listen: [\"127.0.0.1:1\"]\n  path: metrics\n"),
            "t.yaml:3:9: metrics.path: must start with \"/\", got \"metrics\"");
  EXPECT_EQ(parse_error("metrics:\n  listen: [\"127.0.0.1:1\"]\n  path: \"/m?x=1\"\n"),
            "t.yaml:3:9: metrics.path: expected a path of letters, digits and "
            "-._~%!$&'()*+,;=:@/ (no query), got \"/m?x=1\"");
  EXPECT_EQ(parse_error("metrics:\n  listen: [\"127.0.0.1:1\"]\n  paht: /m\n"),
            "t.yaml:3:3: metrics.paht: unknown key \"paht\", did you mean \"path\"?");
  EXPECT_EQ(parse_error("metrics: 9464\n"),
            "t.yaml:1:10: metrics: expected a map of settings, got \"9464\"");
}

TEST(ConfigMetrics, MustNotOverlapListen) {
  // Checked once both are read, whichever comes first in the file, and
  // reported at the metrics address.
  EXPECT_EQ(parse_error("metrics:\n  listen: [\"127.0.0.1:1\", \"127.0.0.1:8080\"]\n"
                        "listen: [\"0.0.0.0:8080\"]\n"),
            "t.yaml:2:27: metrics.listen[1]: overlaps \"0.0.0.0:8080\" in listen: metrics need an "
            "address of their own");
  EXPECT_EQ(
      parse_error("listen: [\"unix:/run/a.sock\"]\nmetrics: {listen: \"unix:/run/a.sock\"}\n"),
      "t.yaml:2:19: metrics.listen: overlaps \"unix:/run/a.sock\" in listen: metrics need "
      "an address of their own");
  // Port 0 means any free port: never a conflict.
  EXPECT_TRUE(parse_ok("listen: [\"127.0.0.1:0\"]\nmetrics: {listen: [\"127.0.0.1:0\"]}\n")
                  .metrics.enabled());
}

TEST(ConfigMetrics, AddressesOverlap) {
  EXPECT_TRUE(addresses_overlap(address("127.0.0.1:80"), address("127.0.0.1:80")));
  EXPECT_TRUE(addresses_overlap(address("0.0.0.0:80"), address("127.0.0.1:80")));
  EXPECT_TRUE(addresses_overlap(address("127.0.0.1:80"), address("0.0.0.0:80")));
  EXPECT_TRUE(addresses_overlap(address("[::]:80"), address("[::1]:80")));
  EXPECT_FALSE(addresses_overlap(address("[::]:80"), address("0.0.0.0:80")));  // IPV6_V6ONLY
  EXPECT_FALSE(addresses_overlap(address("127.0.0.1:80"), address("127.0.0.2:80")));
  EXPECT_FALSE(addresses_overlap(address("127.0.0.1:80"), address("127.0.0.1:81")));
  EXPECT_FALSE(addresses_overlap(address("0.0.0.0:0"), address("0.0.0.0:0")));
  EXPECT_FALSE(addresses_overlap(address("unix:/a"), address("unix:/b")));
}

TEST(ConfigMetrics, PathRules) {
  EXPECT_FALSE(metrics_path_problem("/metrics"));
  EXPECT_FALSE(metrics_path_problem("/"));
  EXPECT_FALSE(metrics_path_problem("/a-b_c.d~e/%41:@!$&'()*+,;="));
  EXPECT_TRUE(metrics_path_problem(""));
  EXPECT_TRUE(metrics_path_problem("/a b"));
  EXPECT_TRUE(metrics_path_problem("/a#b"));
  EXPECT_TRUE(metrics_path_problem("/caf\xc3\xa9"));
  EXPECT_TRUE(metrics_path_problem(std::string_view("/a\0b", 4)));
}

}  // namespace
}  // namespace hellod
