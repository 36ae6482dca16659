// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "result.hpp"
#include "shared_body.hpp"

namespace hellod {

// One entry of `listen:`: "host:port", "[v6addr]:port" or "unix:/path".
struct ListenAddress {
  enum class Kind { tcp4, tcp6, unix_path };
  Kind kind = Kind::tcp4;
  std::string host;  // numeric address, without brackets; empty for unix
  std::uint16_t port = 0;
  std::string path;  // unix socket path; empty for TCP

  // The spelling used in logs and STATUS=, e.g. "0.0.0.0:8080", "[::1]:80",
  // "unix:/run/hellod.sock".
  [[nodiscard]] std::string to_string() const;
  bool operator==(const ListenAddress&) const = default;
};

struct ResponseConfig {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  SharedBody body = "Hello, World!\n";  // shared by every copy of the Config
  // Extra headers in the order the file gives them.
  std::vector<std::pair<std::string, std::string>> headers;
  bool operator==(const ResponseConfig&) const = default;
};

// Which requests a route answers: every filter given must hold. The config
// reader validates and normalises these values (see route_match.hpp).
struct RouteMatch {
  enum class PathKind : unsigned char { any, exact, prefix };
  PathKind path_kind = PathKind::any;
  // The exact path or the prefix, starting with '/'; empty for any path.
  std::string path;
  // RFC 9110 method tokens, case-sensitive, in file order; empty = every method.
  std::vector<std::string> methods;
  // Lower-case host ("example.com", "[::1]") or "*.suffix"; empty = every host.
  std::string host;
  bool operator==(const RouteMatch&) const = default;
};

// One entry of `routes:`; the first route in file order that matches a
// request answers it, and requests no route matches get Config::response.
struct RouteConfig {
  std::string name;  // [a-z0-9_-]+, unique; "route<N>" (1-based) when not given
  RouteMatch match;
  ResponseConfig response;
  bool operator==(const RouteConfig&) const = default;
};

// `health:`: the route a load balancer polls, and how long it fails before
// a stop while everything else is still served.
struct HealthConfig {
  std::string path;  // a route's exact path; empty = no health route
  std::chrono::milliseconds drain{0};
  bool operator==(const HealthConfig&) const = default;
};

struct Timeouts {
  std::chrono::milliseconds header{10'000};
  std::chrono::milliseconds keepalive{60'000};
  std::chrono::milliseconds send{30'000};
  std::chrono::milliseconds shutdown{30'000};
  // TCP_DEFER_ACCEPT: how long the kernel keeps a client that has connected
  // but sent nothing before handing it to hellod (0: at once). As in h2o
  // (nginx's `listen ... deferred`, HAProxy's `defer-accept`), a client is
  // accepted with its request already there, so most connections are
  // answered without ever waiting in epoll.
  std::chrono::milliseconds defer_accept{1'000};
  bool operator==(const Timeouts&) const = default;
};

struct Limits {
  std::uint32_t max_connections = 10'000;
  std::uint32_t max_header_bytes = 8192;
  std::uint64_t max_body_bytes = 1'048'576;
  std::uint32_t keepalive_requests = 10'000;
  bool operator==(const Limits&) const = default;
};

enum class LogLevel { trace, debug, info, warn, error, critical, off };
enum class LogTarget { automatic, stderr_stream, journal };
// log.access: false (off), true or text (one escaped line), json (one
// object a line).
enum class AccessLogFormat : unsigned char { off, text, json };

struct LogConfig {
  LogLevel level = LogLevel::info;
  AccessLogFormat access = AccessLogFormat::off;
  LogTarget target = LogTarget::automatic;
  bool operator==(const LogConfig&) const = default;
};

// metrics: a listener of its own serving the Prometheus exposition; off
// when the section is absent (listen empty).
struct MetricsConfig {
  std::vector<ListenAddress> listen;
  std::string path = "/metrics";
  [[nodiscard]] bool enabled() const { return !listen.empty(); }
  bool operator==(const MetricsConfig&) const = default;
};

// The validated, immutable settings hellod runs on. A default-constructed
// Config is the embedded default used when /etc/hellod.yaml is absent.
struct Config {
  std::vector<ListenAddress> listen{ListenAddress{ListenAddress::Kind::tcp4, "0.0.0.0", 8080, {}}};
  unsigned workers = 1;  // "auto" is resolved to the CPU count when loading
  ResponseConfig response;
  std::vector<RouteConfig> routes;
  HealthConfig health;
  Timeouts timeouts;
  Limits limits;
  LogConfig log;
  MetricsConfig metrics;
  bool operator==(const Config&) const = default;
};

inline constexpr std::string_view kDefaultConfigPath = "/etc/hellod.yaml";

// Reads and validates a YAML file. Every error message names the file, the
// 1-based line and column and the key path, e.g.
// "hellod.yaml:7:11: response.status: expected an integer 200..599, got \"abc\"".
Result<Config> load_config_file(const std::string& path);

// Validates YAML text; file_name is only used in messages. Relative
// body_file paths are resolved against the current directory.
Result<Config> parse_config(std::string_view yaml_text, std::string_view file_name);

}  // namespace hellod
