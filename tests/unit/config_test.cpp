// SPDX-License-Identifier: MIT
#include "config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "config_values.hpp"

namespace hellod {
namespace {

using std::chrono::milliseconds;

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

// A temporary file that removes itself; mkstemp gives a unique name.
class TempFile {
 public:
  explicit TempFile(std::string_view content) {
    std::array<char, 32> name{"/tmp/hellod-config-XXXXXX"};
    const int fd = ::mkstemp(name.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
    path_ = name.data();
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --- defaults -------------------------------------------------------------

TEST(ConfigDefaults, EmptyTextIsDefault) {
  EXPECT_EQ(parse_ok(""), Config{});
}
TEST(ConfigDefaults, CommentOnlyIsDefault) {
  EXPECT_EQ(parse_ok("# nothing\n"), Config{});
}
TEST(ConfigDefaults, NullDocumentIsDefault) {
  EXPECT_EQ(parse_ok("~\n"), Config{});
}
TEST(ConfigDefaults, EmptyMapIsDefault) {
  EXPECT_EQ(parse_ok("{}\n"), Config{});
}
TEST(ConfigDefaults, EmptySectionsAreDefault) {
  EXPECT_EQ(parse_ok("response:\ntimeouts:\nlimits:\nlog:\n"), Config{});
}

TEST(ConfigDefaults, DefaultValues) {
  const Config c;
  ASSERT_EQ(c.listen.size(), 1U);
  EXPECT_EQ(c.listen[0].to_string(), "0.0.0.0:8080");
  EXPECT_EQ(c.workers, 1U);
  EXPECT_EQ(c.response.status, 200);
  EXPECT_EQ(c.response.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(c.response.body, "Hello, World!\n");
  EXPECT_TRUE(c.response.headers.empty());
  EXPECT_EQ(c.timeouts.header, milliseconds{10'000});
  EXPECT_EQ(c.timeouts.keepalive, milliseconds{60'000});
  EXPECT_EQ(c.timeouts.send, milliseconds{30'000});
  EXPECT_EQ(c.timeouts.shutdown, milliseconds{30'000});
  EXPECT_EQ(c.timeouts.defer_accept, milliseconds{1'000});
  EXPECT_EQ(c.limits.max_connections, 10'000U);
  EXPECT_EQ(c.limits.max_header_bytes, 8192U);
  EXPECT_EQ(c.limits.max_body_bytes, 1'048'576U);
  EXPECT_EQ(c.limits.keepalive_requests, 10'000U);
  EXPECT_EQ(c.log.level, LogLevel::info);
  EXPECT_EQ(c.log.access, AccessLogFormat::off);
  EXPECT_EQ(c.log.target, LogTarget::automatic);
}

TEST(ConfigDefaults, ShippedFileEqualsDefaults) {
  auto result = load_config_file(HELLOD_SOURCE_DIR "/config/hellod.yaml");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.value(), Config{});
}

// --- every key ------------------------------------------------------------

TEST(ConfigKeys, AllKeys) {
  const Config c = parse_ok(R"(
listen: ["127.0.0.1:0", "[::1]:80", "unix:/run/x.sock"]
workers: 4
response:
  status: 404
  content_type: "application/json"
  body: "{}"
  headers:
    Cache-Control: no-store
    X-Number: 42
timeouts: {header: 250ms, keepalive: 2m, send: 1.5, shutdown: 1h}
limits:
  max_connections: 5
  max_header_bytes: 256
  max_body_bytes: 0
  keepalive_requests: 1
log: {level: debug, access: true, target: journal}
)");
  ASSERT_EQ(c.listen.size(), 3U);
  EXPECT_EQ(c.listen[0], (ListenAddress{ListenAddress::Kind::tcp4, "127.0.0.1", 0, ""}));
  EXPECT_EQ(c.listen[1], (ListenAddress{ListenAddress::Kind::tcp6, "::1", 80, ""}));
  EXPECT_EQ(c.listen[2], (ListenAddress{ListenAddress::Kind::unix_path, "", 0, "/run/x.sock"}));
  EXPECT_EQ(c.workers, 4U);
  EXPECT_EQ(c.response.status, 404);
  EXPECT_EQ(c.response.content_type, "application/json");
  EXPECT_EQ(c.response.body, "{}");
  const std::vector<std::pair<std::string, std::string>> headers{{"Cache-Control", "no-store"},
                                                                 {"X-Number", "42"}};
  EXPECT_EQ(c.response.headers, headers);
  EXPECT_EQ(c.timeouts.header, milliseconds{250});
  EXPECT_EQ(c.timeouts.keepalive, milliseconds{120'000});
  EXPECT_EQ(c.timeouts.send, milliseconds{1500});
  EXPECT_EQ(c.timeouts.shutdown, milliseconds{3'600'000});
  EXPECT_EQ(c.limits.max_connections, 5U);
  EXPECT_EQ(c.limits.max_header_bytes, 256U);
  EXPECT_EQ(c.limits.max_body_bytes, 0U);
  EXPECT_EQ(c.limits.keepalive_requests, 1U);
  EXPECT_EQ(c.log.level, LogLevel::debug);
  EXPECT_EQ(c.log.access, AccessLogFormat::text);
  EXPECT_EQ(c.log.target, LogTarget::journal);
}

TEST(ConfigKeys, OmittedKeysKeepDefaults) {
  const Config c = parse_ok("response:\n  status: 503\n");
  Config expected;
  expected.response.status = 503;
  EXPECT_EQ(c, expected);
}

TEST(ConfigKeys, ListenAcceptsSingleString) {
  const Config c = parse_ok("listen: \"[::]:8080\"\n");
  ASSERT_EQ(c.listen.size(), 1U);
  EXPECT_EQ(c.listen[0].to_string(), "[::]:8080");
}

TEST(ConfigKeys, WorkersAuto) {
  const unsigned expected = std::clamp(std::thread::hardware_concurrency(), 1U, 256U);
  EXPECT_EQ(parse_ok("workers: auto\n").workers, expected);
}

TEST(ConfigKeys, WorkersBounds) {
  EXPECT_EQ(parse_ok("workers: 1\n").workers, 1U);
  EXPECT_EQ(parse_ok("workers: 256\n").workers, 256U);
}

TEST(ConfigKeys, StatusBounds) {
  EXPECT_EQ(parse_ok("response: {status: 200}").response.status, 200);
  EXPECT_EQ(parse_ok("response: {status: 599}").response.status, 599);
}

TEST(ConfigKeys, LimitsUpperBounds) {
  const Config c = parse_ok(
      "limits: {max_connections: 1000000, max_header_bytes: 1048576,"
      " max_body_bytes: 1099511627776, keepalive_requests: 1000000000}");
  EXPECT_EQ(c.limits.max_connections, 1'000'000U);
  EXPECT_EQ(c.limits.max_header_bytes, 1'048'576U);
  EXPECT_EQ(c.limits.max_body_bytes, std::uint64_t{1} << 40);
  EXPECT_EQ(c.limits.keepalive_requests, 1'000'000'000U);
}

TEST(ConfigKeys, EveryLogLevel) {
  const std::array<std::pair<const char*, LogLevel>, 7> levels{{{"trace", LogLevel::trace},
                                                                {"debug", LogLevel::debug},
                                                                {"info", LogLevel::info},
                                                                {"warn", LogLevel::warn},
                                                                {"error", LogLevel::error},
                                                                {"critical", LogLevel::critical},
                                                                {"off", LogLevel::off}}};
  for (const auto& [name, level] : levels) {
    EXPECT_EQ(parse_ok(std::string("log: {level: ") + name + "}").log.level, level) << name;
  }
}

TEST(ConfigKeys, EveryLogTarget) {
  EXPECT_EQ(parse_ok("log: {target: auto}").log.target, LogTarget::automatic);
  EXPECT_EQ(parse_ok("log: {target: stderr}").log.target, LogTarget::stderr_stream);
  EXPECT_EQ(parse_ok("log: {target: journal}").log.target, LogTarget::journal);
}

TEST(ConfigKeys, Booleans) {
  EXPECT_EQ(parse_ok("log: {access: True}").log.access, AccessLogFormat::text);
  EXPECT_EQ(parse_ok("log: {access: FALSE}").log.access, AccessLogFormat::off);
}

TEST(ConfigKeys, QuotedNumbersAreAccepted) {
  EXPECT_EQ(parse_ok("response: {status: \"201\"}").response.status, 201);
}

TEST(ConfigKeys, EmptyBodyAndHeaderValueAllowed) {
  const Config c = parse_ok("response:\n  body: \"\"\n  headers: {X-Empty: \"\"}\n");
  EXPECT_EQ(c.response.body, "");
  ASSERT_EQ(c.response.headers.size(), 1U);
  EXPECT_EQ(c.response.headers[0].second, "");
}

TEST(ConfigKeys, HeadersKeepFileOrder) {
  const Config c = parse_ok("response:\n  headers:\n    Z: 1\n    A: 2\n    M: 3\n");
  ASSERT_EQ(c.response.headers.size(), 3U);
  EXPECT_EQ(c.response.headers[0].first, "Z");
  EXPECT_EQ(c.response.headers[1].first, "A");
  EXPECT_EQ(c.response.headers[2].first, "M");
}

TEST(ConfigKeys, AnchorsAndAliasesWork) {
  const Config c = parse_ok("timeouts: {header: &t 5s, send: *t}\n");
  EXPECT_EQ(c.timeouts.header, milliseconds{5000});
  EXPECT_EQ(c.timeouts.send, milliseconds{5000});
}

// --- durations ------------------------------------------------------------

TEST(ConfigDurations, EveryUnit) {
  const Config c = parse_ok("timeouts: {header: 250ms, keepalive: 10s, send: 2m, shutdown: 1h}");
  EXPECT_EQ(c.timeouts.header, milliseconds{250});
  EXPECT_EQ(c.timeouts.keepalive, milliseconds{10'000});
  EXPECT_EQ(c.timeouts.send, milliseconds{120'000});
  EXPECT_EQ(c.timeouts.shutdown, milliseconds{3'600'000});
}

TEST(ConfigDurations, PlainSeconds) {
  EXPECT_EQ(parse_ok("timeouts: {header: 7}").timeouts.header, milliseconds{7000});
  EXPECT_EQ(parse_ok("timeouts: {header: 1.5}").timeouts.header, milliseconds{1500});
  EXPECT_EQ(parse_ok("timeouts: {header: 0.001}").timeouts.header, milliseconds{1});
}

TEST(ConfigTimeouts, DeferAcceptTakesZeroForAcceptingAtOnce) {
  EXPECT_EQ(parse_ok("timeouts: {defer_accept: 0s}\n").timeouts.defer_accept, milliseconds{0});
  EXPECT_EQ(parse_ok("timeouts: {defer_accept: 5s}\n").timeouts.defer_accept, milliseconds{5'000});
}

TEST(ConfigDurations, DecimalsWithUnits) {
  EXPECT_EQ(parse_duration("1.5m").value(), milliseconds{90'000});
  EXPECT_EQ(parse_duration("0.5h").value(), milliseconds{1'800'000});
  EXPECT_EQ(parse_duration("2.5s").value(), milliseconds{2500});
}

TEST(ConfigDurations, Bounds) {
  EXPECT_EQ(parse_duration("1ms").value(), milliseconds{1});
  EXPECT_EQ(parse_duration("24h").value(), milliseconds{86'400'000});
  EXPECT_EQ(parse_duration("86400").value(), milliseconds{86'400'000});
  EXPECT_EQ(parse_duration("0s").error().message,
            "must be more than 0 and at most 24h, got \"0s\"");
  EXPECT_EQ(parse_duration("86400001ms").error().message,
            "must be more than 0 and at most 24h, got \"86400001ms\"");
  EXPECT_EQ(parse_duration("25h").error().message,
            "must be more than 0 and at most 24h, got \"25h\"");
}

TEST(ConfigDurations, Malformed) {
  for (const char* text : {"", "abc", "10", "s", "10x", "-1s", "1.s", ".5s", "1..5s", "1 s", "1e3",
                           "10sec", "1234567890123s", "+5s"}) {
    const auto result = parse_duration(text);
    if (std::string_view(text) == "10") {
      EXPECT_TRUE(result.ok());
      continue;
    }
    ASSERT_FALSE(result.ok()) << text;
    EXPECT_NE(result.error().message.find("expected a duration"), std::string::npos) << text;
  }
}

TEST(ConfigDurations, SubMillisecondIsRejected) {
  EXPECT_EQ(parse_duration("0.0005").error().message,
            "must be a whole number of milliseconds, got \"0.0005\"");
  EXPECT_EQ(parse_duration("1.5ms").error().message,
            "must be a whole number of milliseconds, got \"1.5ms\"");
}

TEST(ConfigDurations, ErrorInFile) {
  EXPECT_EQ(parse_error("timeouts:\n  send: 0\n"),
            "t.yaml:2:9: timeouts.send: must be more than 0 and at most 24h, got \"0\"");
  EXPECT_EQ(parse_error("timeouts:\n  header: soon\n"),
            "t.yaml:2:11: timeouts.header: expected a duration such as \"250ms\", \"10s\", "
            "\"2m\", \"1h\" or a number of seconds, got \"soon\"");
  EXPECT_EQ(parse_error("timeouts:\n  header: [1]\n"),
            "t.yaml:2:11: timeouts.header: expected a duration such as \"10s\", got a sequence");
}

// --- addresses ------------------------------------------------------------

TEST(ConfigAddresses, ToStringForms) {
  EXPECT_EQ(parse_listen_address("0.0.0.0:8080").value().to_string(), "0.0.0.0:8080");
  EXPECT_EQ(parse_listen_address("[::1]:80").value().to_string(), "[::1]:80");
  EXPECT_EQ(parse_listen_address("unix:/run/x.sock").value().to_string(), "unix:/run/x.sock");
}

TEST(ConfigAddresses, Ipv6IsCanonicalised) {
  const auto a = parse_listen_address("[0:0:0:0:0:0:0:1]:443").value();
  EXPECT_EQ(a.kind, ListenAddress::Kind::tcp6);
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.to_string(), "[::1]:443");
  EXPECT_EQ(parse_listen_address("[::ffff:10.0.0.1]:1").value().host, "::ffff:10.0.0.1");
}

TEST(ConfigAddresses, PortBounds) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:0").value().port, 0);
  EXPECT_EQ(parse_listen_address("127.0.0.1:65535").value().port, 65535);
  EXPECT_EQ(parse_listen_address("127.0.0.1:65536").error().message,
            "expected a port 0..65535, got \"65536\"");
  EXPECT_EQ(parse_listen_address("[::]:-1").error().message,
            "expected a port 0..65535, got \"-1\"");
  EXPECT_EQ(parse_listen_address("1.2.3.4:").error().message, "expected a port 0..65535, got \"\"");
  EXPECT_EQ(parse_listen_address("1.2.3.4:http").error().message,
            "expected a port 0..65535, got \"http\"");
}

TEST(ConfigAddresses, BadHosts) {
  EXPECT_EQ(parse_listen_address("localhost:80").error().message,
            "expected a numeric IPv4 address (host names are not resolved), got "
            "\"localhost:80\"");
  EXPECT_EQ(parse_listen_address("1.2.3:80").error().message,
            "expected a numeric IPv4 address (host names are not resolved), got \"1.2.3:80\"");
  EXPECT_EQ(parse_listen_address("::1:80").error().message,
            "an IPv6 address needs brackets, e.g. \"[::1]:8080\", got \"::1:80\"");
  EXPECT_EQ(parse_listen_address("[::g]:80").error().message,
            "expected a numeric IPv6 address in brackets, got \"[::g]:80\"");
  EXPECT_EQ(parse_listen_address("[::1]").error().message,
            "expected \"host:port\", \"[v6addr]:port\" or \"unix:/path\", got \"[::1]\"");
  EXPECT_EQ(parse_listen_address("8080").error().message,
            "expected \"host:port\", \"[v6addr]:port\" or \"unix:/path\", got \"8080\"");
  EXPECT_FALSE(parse_listen_address(std::string_view("1.2.3.4\0:80", 11)).ok());
}

TEST(ConfigAddresses, UnixPaths) {
  EXPECT_EQ(parse_listen_address("unix:run/x.sock").error().message,
            "a unix socket path must be absolute, got \"unix:run/x.sock\"");
  EXPECT_FALSE(parse_listen_address("unix:").ok());
  const std::string longest = "/" + std::string(106, 'a');  // 107 bytes + NUL fits
  EXPECT_EQ(parse_listen_address("unix:" + longest).value().path, longest);
  EXPECT_EQ(parse_listen_address("unix:" + longest + "a").error().message,
            "a unix socket path must be shorter than 108 bytes, got 108");
}

TEST(ConfigAddresses, ErrorsInFile) {
  EXPECT_EQ(parse_error("listen:\n  - 0.0.0.0:80\n  - localhost:80\n"),
            "t.yaml:3:5: listen[1]: expected a numeric IPv4 address (host names are not "
            "resolved), got \"localhost:80\"");
  EXPECT_EQ(parse_error("listen: \"1.2.3.4:99999\"\n"),
            "t.yaml:1:9: listen: expected a port 0..65535, got \"99999\"");
  EXPECT_EQ(parse_error("listen: []\n"), "t.yaml:1:9: listen: expected at least one address");
  EXPECT_EQ(parse_error("listen: {a: 1}\n"),
            "t.yaml:1:9: listen: expected an address or a list of addresses, got a map");
  EXPECT_EQ(parse_error("listen:\n  - [1]\n"),
            "t.yaml:2:5: listen[0]: expected an address such as \"0.0.0.0:8080\", got a "
            "sequence");
}

TEST(ConfigAddresses, DuplicatesAreErrors) {
  EXPECT_EQ(parse_error("listen: [\"[::1]:80\", \"127.0.0.1:80\", \"[0::1]:80\"]\n"),
            "t.yaml:1:38: listen[2]: duplicate address \"[::1]:80\" (already listen[0])");
  EXPECT_EQ(parse_error("listen: [\"unix:/a\", \"unix:/a\"]\n"),
            "t.yaml:1:21: listen[1]: duplicate address \"unix:/a\" (already listen[0])");
}

// --- numbers and types ------------------------------------------------------

TEST(ConfigErrors, StatusExample) {
  EXPECT_EQ(parse_error("response:\n  status: abc\n"),
            "t.yaml:2:11: response.status: expected an integer 200..599, got \"abc\"");
}

TEST(ConfigErrors, OutOfRangeNumbers) {
  EXPECT_EQ(parse_error("response: {status: 199}"),
            "t.yaml:1:20: response.status: expected an integer 200..599, got \"199\"");
  EXPECT_EQ(parse_error("response: {status: 600}"),
            "t.yaml:1:20: response.status: expected an integer 200..599, got \"600\"");
  EXPECT_EQ(parse_error("workers: 0"),
            "t.yaml:1:10: workers: expected an integer 1..256 or \"auto\", got \"0\"");
  EXPECT_EQ(parse_error("workers: 257"),
            "t.yaml:1:10: workers: expected an integer 1..256 or \"auto\", got \"257\"");
  EXPECT_EQ(parse_error("workers: 1.5"),
            "t.yaml:1:10: workers: expected an integer 1..256 or \"auto\", got \"1.5\"");
  EXPECT_EQ(parse_error("limits:\n  max_connections: 0\n"),
            "t.yaml:2:20: limits.max_connections: expected an integer 1..1000000, got \"0\"");
  EXPECT_EQ(parse_error("limits:\n  max_header_bytes: 255\n"),
            "t.yaml:2:21: limits.max_header_bytes: expected an integer 256..1048576, got \"255\"");
  EXPECT_EQ(parse_error("limits:\n  max_body_bytes: -1\n"),
            "t.yaml:2:19: limits.max_body_bytes: expected an integer 0..1099511627776, got \"-1\"");
  EXPECT_EQ(parse_error("limits:\n  max_body_bytes: 1099511627777\n"),
            "t.yaml:2:19: limits.max_body_bytes: expected an integer 0..1099511627776, got "
            "\"1099511627777\"");
  EXPECT_EQ(parse_error("limits:\n  keepalive_requests: 1000000001\n"),
            "t.yaml:2:23: limits.keepalive_requests: expected an integer 1..1000000000, got "
            "\"1000000001\"");
  EXPECT_EQ(parse_error("limits:\n  max_connections: 99999999999999999999999\n"),
            "t.yaml:2:20: limits.max_connections: expected an integer 1..1000000, got "
            "\"99999999999999999999999\"");
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_EQ(parse_error("response:\n  status: {a: 1}\n"),
            "t.yaml:2:11: response.status: expected an integer 200..599, got a map");
  EXPECT_EQ(parse_error("workers: [1]\n"),
            "t.yaml:1:10: workers: expected an integer 1..256 or \"auto\", got a sequence");
  EXPECT_EQ(parse_error("response: [1]\n"),
            "t.yaml:1:11: response: expected a map of settings, got a sequence");
  EXPECT_EQ(parse_error("timeouts: 5s\n"),
            "t.yaml:1:11: timeouts: expected a map of settings, got \"5s\"");
  EXPECT_EQ(parse_error("response:\n  body: {a: 1}\n"),
            "t.yaml:2:9: response.body: expected a string (write \"\" for an empty body), got a "
            "map");
  EXPECT_EQ(parse_error("log:\n  access: yes\n"),
            "t.yaml:2:11: log.access: expected false, true, text or json, got \"yes\"");
  EXPECT_EQ(parse_error("log:\n  level: verbose\n"),
            "t.yaml:2:10: log.level: expected one of trace, debug, info, warn, error, critical, "
            "off, got \"verbose\"");
  EXPECT_EQ(parse_error("log:\n  target: syslog\n"),
            "t.yaml:2:11: log.target: expected one of auto, stderr, journal, got \"syslog\"");
}

TEST(ConfigErrors, MissingValuePointsAtItsKey) {
  EXPECT_EQ(parse_error("response:\n  status:\n"),
            "t.yaml:2:3: response.status: expected an integer 200..599, got nothing");
  EXPECT_EQ(parse_error("response:\n  status: ~\nworkers: 1\n"),
            "t.yaml:2:3: response.status: expected an integer 200..599, got nothing");
  EXPECT_EQ(parse_error("listen:\n  -\n"),
            "t.yaml:2:3: listen[0]: expected an address such as \"0.0.0.0:8080\", got nothing");
}

TEST(ConfigErrors, TopLevelMustBeAMap) {
  EXPECT_EQ(parse_error("- a\n- b\n"), "t.yaml:1:1: expected a map of settings, got a sequence");
  EXPECT_EQ(parse_error("hello\n"), "t.yaml:1:1: expected a map of settings, got \"hello\"");
}

TEST(ConfigErrors, OnlyOneDocument) {
  EXPECT_EQ(parse_error("workers: 1\n---\nworkers: 2\n"),
            "t.yaml:2:1: a config file holds one YAML document, found a second");
}

TEST(ConfigErrors, DuplicateKeys) {
  EXPECT_EQ(parse_error("workers: 1\nworkers: 2\n"),
            "t.yaml:2:1: workers: duplicate key \"workers\"");
  EXPECT_EQ(parse_error("log:\n  level: info\n  level: debug\n"),
            "t.yaml:3:3: log.level: duplicate key \"level\"");
}

TEST(ConfigErrors, NonScalarKey) {
  EXPECT_EQ(parse_error("? [a]\n: 1\n"), "t.yaml:1:3: expected a key name, got a sequence");
}

// --- unknown keys -----------------------------------------------------------

TEST(ConfigUnknownKeys, SuggestsNearestKey) {
  EXPECT_EQ(parse_error("response:\n  stauts: 200\n"),
            "t.yaml:2:3: response.stauts: unknown key \"stauts\", did you mean \"status\"?");
  EXPECT_EQ(parse_error("worker: 2\n"),
            "t.yaml:1:1: worker: unknown key \"worker\", did you mean \"workers\"?");
  EXPECT_EQ(parse_error("limits:\n  max_conections: 2\n"),
            "t.yaml:2:3: limits.max_conections: unknown key \"max_conections\", did you mean "
            "\"max_connections\"?");
  EXPECT_EQ(parse_error("timeouts:\n  keep_alive: 2s\n"),
            "t.yaml:2:3: timeouts.keep_alive: unknown key \"keep_alive\", did you mean "
            "\"keepalive\"?");
  EXPECT_EQ(parse_error("Log: {}\n"),
            "t.yaml:1:1: Log: unknown key \"Log\", did you mean \"log\"?");
}

TEST(ConfigUnknownKeys, ListsKnownKeysWhenNothingIsClose) {
  EXPECT_EQ(parse_error("response:\n  zzz: 1\n"),
            "t.yaml:2:3: response.zzz: unknown key \"zzz\" (known keys: status, content_type, "
            "body, body_file, headers, template)");
  EXPECT_EQ(parse_error("frobnicate: 1\n"),
            "t.yaml:1:1: frobnicate: unknown key \"frobnicate\" (known keys: listen, workers, "
            "response, routes, health, timeouts, limits, log, metrics)");
}

TEST(ConfigUnknownKeys, NearestName) {
  const std::array<std::string_view, 3> names{"status", "body", "headers"};
  EXPECT_EQ(nearest_name("stauts", names), "status");
  EXPECT_EQ(nearest_name("bdy", names), "body");
  EXPECT_EQ(nearest_name("header", names), "headers");
  EXPECT_FALSE(nearest_name("x", names).has_value());
  EXPECT_FALSE(nearest_name("workers", names).has_value());
}

TEST(ConfigUnknownKeys, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0U);
  EXPECT_EQ(edit_distance("abc", ""), 3U);
  EXPECT_EQ(edit_distance("status", "status"), 0U);
  EXPECT_EQ(edit_distance("stauts", "status"), 1U);  // one transposition
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3U);
  EXPECT_EQ(edit_distance("LOG", "log"), 0U);
}

// --- response -----------------------------------------------------------------

TEST(ConfigResponse, BodyFileIsRead) {
  const TempFile file("<h1>hi</h1>\n");
  const Config c = parse_ok("response:\n  body_file: " + file.path() + "\n");
  EXPECT_EQ(c.response.body, "<h1>hi</h1>\n");
}

TEST(ConfigResponse, BinaryBodyFileIsReadExactly) {
  const std::string bytes("a\0b\r\n\xff", 6);
  const TempFile file(bytes);
  EXPECT_EQ(parse_ok("response: {body_file: " + file.path() + "}").response.body, bytes);
}

TEST(ConfigResponse, UnreadableBodyFile) {
  auto result = parse_config("response:\n  body_file: /nonexistent/body.html\n", kFile);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "t.yaml:2:14: response.body_file: cannot read \"/nonexistent/body.html\": No such "
            "file or directory");
  EXPECT_EQ(result.error().errno_value, ENOENT);
}

TEST(ConfigResponse, BodyFileThatIsADirectory) {
  auto result = parse_config("response: {body_file: /tmp}", kFile);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "t.yaml:1:23: response.body_file: cannot read \"/tmp\": Is a directory");
  EXPECT_EQ(result.error().errno_value, EISDIR);
}

// open(2) of a FIFO waits until some process opens it for writing: a
// reload, or the --check-config that systemctl reload runs first, would
// hang there. hellod serves regular files only.
TEST(ConfigResponse, BodyFileThatIsAFifo) {
  const std::string path = "/tmp/hellod-body-fifo-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto result = parse_config("response: {body_file: " + path + "}", kFile);
  ::unlink(path.c_str());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "t.yaml:1:23: response.body_file: cannot read \"" + path + "\": not a regular file");
}

TEST(ConfigResponse, BodyFileThatIsADevice) {
  EXPECT_EQ(parse_error("response: {body_file: /dev/null}"),
            "t.yaml:1:23: response.body_file: cannot read \"/dev/null\": not a regular file");
}

TEST(ConfigResponse, BodyAndBodyFileAreExclusive) {
  const TempFile file("x");
  EXPECT_EQ(parse_error("response:\n  body: hi\n  body_file: " + file.path() + "\n"),
            "t.yaml:3:14: response.body_file: \"body\" and \"body_file\" are exclusive; remove "
            "one (\"body\" is also set)");
  EXPECT_EQ(parse_error("response:\n  body_file: " + file.path() + "\n  body: hi\n"),
            "t.yaml:3:9: response.body: \"body\" and \"body_file\" are exclusive; remove one "
            "(\"body_file\" is also set)");
}

TEST(ConfigResponse, ContentType) {
  EXPECT_EQ(parse_error("response:\n  content_type: \"\"\n"),
            "t.yaml:2:17: response.content_type: must not be empty");
  EXPECT_EQ(parse_error("response:\n  content_type: \"text/html\\r\\nX-Evil: 1\"\n"),
            "t.yaml:2:17: response.content_type: must not contain CR, LF or NUL (RFC 9110 §5.5)");
}

TEST(ConfigResponse, HeaderNamesMustBeTokens) {
  EXPECT_EQ(parse_error("response:\n  headers:\n    \"Bad Name\": x\n"),
            "t.yaml:3:5: response.headers.Bad Name: not a valid header name: RFC 9110 §5.1 "
            "allows only token characters (letters, digits and !#$%&'*+-.^_`|~)");
  EXPECT_FALSE(parse_config("response: {headers: {\"X:Y\": x}}", kFile).ok());
  EXPECT_FALSE(parse_config("response: {headers: {\"\": x}}", kFile).ok());
  EXPECT_TRUE(parse_config("response: {headers: {\"X-a!#$%&'*+.^_`|~1\": x}}", kFile).ok());
}

TEST(ConfigResponse, HeaderInjectionIsRejected) {
  EXPECT_EQ(parse_error("response:\n  headers:\n    X-Foo: \"a\\r\\nSet-Cookie: x\"\n"),
            "t.yaml:3:12: response.headers.X-Foo: must not contain CR, LF or NUL (RFC 9110 "
            "§5.5)");
  EXPECT_FALSE(parse_config("response: {headers: {X-Foo: \"a\\nb\"}}", kFile).ok());
  EXPECT_FALSE(parse_config("response: {headers: {X-Foo: \"a\\0b\"}}", kFile).ok());
  EXPECT_EQ(parse_error("response: {headers: {X-Foo: \"a\\x01b\"}}"),
            "t.yaml:1:29: response.headers.X-Foo: must not contain control characters (RFC 9110 "
            "§5.5)");
  EXPECT_EQ(parse_error("response: {headers: {X-Foo: \" a\"}}"),
            "t.yaml:1:29: response.headers.X-Foo: must not start or end with whitespace (RFC "
            "9110 §5.5)");
}

TEST(ConfigResponse, OwnedHeadersAreRejected) {
  for (const char* name : {"Content-Length", "date", "CONNECTION", "Transfer-Encoding", "server"}) {
    const std::string message = parse_error(std::string("response: {headers: {") + name + ": x}}");
    EXPECT_NE(message.find(std::string("response.headers.") + name + ": hellod sets "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("itself; it cannot be configured"), std::string::npos) << message;
  }
  EXPECT_EQ(parse_error("response:\n  headers:\n    content-type: text/html\n"),
            "t.yaml:3:5: response.headers.content-type: hellod sets Content-Type itself; use "
            "response.content_type");
}

TEST(ConfigResponse, DuplicateHeaders) {
  EXPECT_EQ(parse_error("response:\n  headers:\n    X-Foo: 1\n    x-foo: 2\n"),
            "t.yaml:4:5: response.headers.x-foo: duplicate header \"x-foo\" (names are "
            "case-insensitive)");
}

TEST(ConfigResponse, HeaderValueTypes) {
  EXPECT_EQ(parse_error("response:\n  headers:\n    X-Foo: [1]\n"),
            "t.yaml:3:12: response.headers.X-Foo: expected a string, got a sequence");
  EXPECT_EQ(parse_error("response:\n  headers: [a]\n"),
            "t.yaml:2:12: response.headers: expected a map of header names to values");
  EXPECT_EQ(parse_ok("response: {headers: {X-B: true, X-F: 1.5}}").response.headers[1].second,
            "1.5");
}

// --- YAML syntax and files ---------------------------------------------------

TEST(ConfigSyntax, ReportsYamlCppPosition) {
  const std::string message = parse_error("workers: 1\nresponse:\n  status: [200\n");
  EXPECT_EQ(message.rfind("t.yaml:", 0), 0U) << message;
  EXPECT_NE(message.find(": invalid YAML: "), std::string::npos) << message;
  EXPECT_EQ(parse_error("a: b: c\n"), "t.yaml:1:5: invalid YAML: illegal map value");
  EXPECT_EQ(parse_error("workers: 1\n  bad: indent\n"),
            "t.yaml:2:6: invalid YAML: illegal map value");
}

TEST(ConfigFiles, MissingFile) {
  auto result = load_config_file("/nonexistent/hellod.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "/nonexistent/hellod.yaml: cannot read: No such file or directory");
  EXPECT_EQ(result.error().errno_value, ENOENT);
}

TEST(ConfigFiles, MessagesUseThePathAsGiven) {
  const TempFile file("workers: none\n");
  auto result = load_config_file(file.path());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            file.path() + ":1:10: workers: expected an integer 1..256 or \"auto\", got \"none\"");
  EXPECT_EQ(result.error().errno_value, 0);
}

TEST(ConfigFiles, LoadsAFile) {
  const TempFile file("workers: 3\n");
  auto result = load_config_file(file.path());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.value().workers, 3U);
}

// --- one-line messages --------------------------------------------------------

TEST(ConfigMessages, QuotedInputStaysOnOneLine) {
  EXPECT_EQ(quote("a\"b\\c\n\r\t\x01"), R"("a\"b\\c\n\r\t\x01")");
  EXPECT_EQ(quote(std::string(70, 'x')), "\"" + std::string(64, 'x') + "...\"");
  const std::string message = parse_error("workers: \"a\\nb\"\n");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(ConfigMessages, FieldValueRules) {
  EXPECT_FALSE(field_value_problem("text/plain; charset=utf-8").has_value());
  EXPECT_FALSE(field_value_problem("a\tb").has_value());
  EXPECT_FALSE(field_value_problem("caf\xc3\xa9").has_value());  // obs-text is allowed
  EXPECT_TRUE(field_value_problem("a\x7f").has_value());
  EXPECT_TRUE(field_value_problem("a ").has_value());
}

}  // namespace
}  // namespace hellod
