// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary documents through hellod::parse_config, the
// loader behind start-up, reload and --check-config.
//
// Besides the sanitizers, it checks what an operator relies on:
// - no exception escapes (yaml-cpp's must be turned into an Error);
// - an error is one line that names the file, as --check-config prints it,
//   with no control characters (regression-escape-cr, regression-key-path-crlf);
// - it ends: "," alone once made yaml-cpp 0.7's LoadAll loop forever
//   (regression-loadall-comma, yaml-cpp issue #1040);
// - an accepted config stays within its documented ranges and renders into
//   a well-formed response whose configured headers cannot inject lines.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "config.hpp"
#include "http_date.hpp"
#include "response.hpp"
#include "route_table.hpp"

namespace hellod {
namespace {

constexpr std::string_view kFileName = "fuzz.yaml";

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "config_fuzzer: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// body_file may name any path; device and kernel files would only make the
// fuzzer slow (it reads up to 64 MiB), not find anything in hellod.
bool names_special_files(std::string_view text) {
  for (const std::string_view prefix : {"/dev", "/proc", "/sys"}) {
    if (text.find(prefix) != std::string_view::npos) return true;
  }
  return false;
}

void check_error(const Error& error) {
  const std::string& message = error.message;
  if (message.empty()) fail("empty error message");
  if (message.substr(0, kFileName.size() + 1) != std::string(kFileName) + ":") {
    fail("error does not name the file", message);
  }
  const bool control = std::any_of(message.begin(), message.end(), [](char c) {
    return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
  });
  if (control) {
    fail("control character (line break) in the error message", message);
  }
}

void check_ranges(const Config& config) {
  if (config.listen.empty()) fail("no listen address");
  if (config.workers < 1 || config.workers > 256) fail("workers out of range");
  if (config.response.status < 200 || config.response.status > 599) fail("status out of range");
  for (const RouteConfig& route : config.routes) {
    if (route.response.status < 200 || route.response.status > 599) fail("status out of range");
  }
  const Limits& limits = config.limits;
  if (limits.max_connections < 1 || limits.max_connections > 1'000'000) fail("max_connections");
  if (limits.max_header_bytes < 256 || limits.max_header_bytes > 1'048'576) {
    fail("max_header_bytes");
  }
  if (limits.max_body_bytes > (1ULL << 40)) fail("max_body_bytes");
  if (limits.keepalive_requests < 1 || limits.keepalive_requests > 1'000'000'000) {
    fail("keepalive_requests");
  }
  constexpr std::chrono::milliseconds kDay{24LL * 3600 * 1000};
  for (const auto timeout : {config.timeouts.header, config.timeouts.keepalive,
                             config.timeouts.send, config.timeouts.shutdown}) {
    if (timeout.count() <= 0 || timeout > kDay) fail("timeout out of range");
  }
}

// The rendered head (a HEAD request's bytes) must be a status line, header
// lines with a colon each, and one empty line at the very end: nothing from
// the config may add a line. A GET's bytes are that head and the configured
// body (in one buffer for a small body, else two).
void check_rendered(const ResponseConfig& config, const Response& response) {
  const std::string_view head = response.bytes(ConnectionHeader::none, true).head;
  const std::size_t end = head.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 != head.size()) fail("malformed head", head);
  std::size_t lines = 0;
  std::size_t start = head.find("\r\n") + 2;
  while (start < end + 2) {
    const std::size_t next = head.find("\r\n", start);
    const std::string_view line = head.substr(start, next - start);
    if (line.find(':') == std::string_view::npos) fail("header line without a colon", head);
    if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos ||
        line.find('\0') != std::string_view::npos) {
      fail("control character in a header line", head);
    }
    ++lines;
    start = next + 2;
  }
  // Server, Date and Content-Type at least, plus one per configured header.
  if (lines < 3 + config.headers.size()) fail("headers went missing", head);
  // 204 and 304 carry no body (RFC 9110 §15.3.5, §15.4.5).
  const int status = config.status;
  const bool has_body = status != 204 && status != 304;
  const ResponseBytes get = response.bytes(ConnectionHeader::none, false);
  const std::string wire = std::string(get.head) + std::string(get.body);
  if (wire != std::string(head) + std::string(has_body ? config.body.view() : std::string_view()))
    fail("a GET is not the head and the configured body", wire);
}

void check_rendered(const Config& config) {
  const ResponseSet set(config, current_http_date());
  check_rendered(config.response, set.configured);
  if (set.routes.size() != config.routes.size()) fail("a route was not rendered");
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    check_rendered(config.routes[i].response, set.for_route(i));
  }
}

// A request every accepted route matches: the first match in file order can
// only be that route or an earlier one.
void check_routes(const Config& config) {
  const RouteTable table(config.routes, config.health.path);
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteMatch& match = config.routes[i].match;
    const std::string method = match.methods.empty() ? "GET" : match.methods.front();
    const std::string path = match.path.empty() ? "/" : match.path;
    const std::string host = match.host.starts_with("*.") ? "a" + match.host.substr(1) : match.host;
    const std::size_t found = table.match(method, path, host + ":8080");
    if (found > i) fail("a route does not match its own request", config.routes[i].name);
  }
}

}  // namespace
}  // namespace hellod

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hellod;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (names_special_files(text)) return -1;  // reject: not added to the corpus
  const Result<Config> config = parse_config(text, kFileName);
  if (!config) {
    check_error(config.error());
    return 0;
  }
  check_ranges(config.value());
  check_rendered(config.value());
  check_routes(config.value());
  return 0;
}
