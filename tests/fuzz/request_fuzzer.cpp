// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary client bytes, arriving in arbitrary read
// sizes, through the request path of a connection: drive_requests (the one
// loop Connection::process uses) with the configured limits, then reply_for,
// the response selection and close decision Connection::answer makes.
//
// Besides the sanitizers, it checks properties a hostile client must not be
// able to break:
// - every feed makes progress and never claims more bytes than it was given;
// - errors carry one of the statuses hellod has a response for;
// - after an error or a "last" response nothing more is parsed;
// - the outcome does not depend on how the bytes were split into reads
//   (a split-dependent result would let a client smuggle a request past a
//   proxy that reads differently), checked against one whole read and one
//   byte-at-a-time read;
// - with routes (most runs), each request is routed as Connection::answer
//   routes it (route_of on the fields the snapshot's mask collects, the
//   health route failing while draining), the route agrees with a plain
//   first-match scan of the routes in file order, and the reply's status is
//   that route's (or the top-level response's, or 503 for a failing health
//   route).
//
// The split points come from a hash of the input, so every input is still a
// plain HTTP byte stream (the seed corpus is readable) while mutations
// explore different read sizes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "http_date.hpp"
#include "reply.hpp"
#include "request_driver.hpp"
#include "request_parser.hpp"
#include "response.hpp"
#include "route_match.hpp"
#include "route_table.hpp"
#include "snapshot.hpp"

namespace hellod {
namespace {

// One thing the connection did, in order. For errors the byte offset is not
// compared: where llhttp notices an error may legitimately depend on reads.
struct Outcome {
  ParseEvent::Kind kind = ParseEvent::Kind::need_more;
  int status = 0;
  ConnectionHeader connection = ConnectionHeader::none;
  bool head = false;
  std::size_t end = 0;

  bool operator==(const Outcome&) const = default;
};

struct Run {
  std::vector<Outcome> outcomes;
  bool closed = false;       // the connection decided to close
  bool mid_request = false;  // input ended inside a request (header/body timeout applies)
  bool operator==(const Run&) const = default;
};

// What the connection is configured with; varied by the input's hash so the
// small limits (and their 413/414/431 paths) are reached often.
struct Setup {
  RequestLimits limits;
  std::uint32_t keepalive_requests = 10'000;
  bool draining = false;
  FieldMask captures = 0;       // routing and the access log collect fields
  bool routed = false;          // serve kRoutes (else the top-level response only)
  bool health_failing = false;  // the drain before a stop: health routes answer 503
};

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "request_fuzzer: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

const ResponseSet& responses() {
  static const ResponseSet set(ResponseConfig{}, current_http_date());
  return set;
}

// A small route table with every kind of filter; each response has its own
// status, so a reply's status says which route answered. Statuses avoid 503
// and the error statuses (kErrorStatuses).
constexpr std::string_view kRoutes = R"(
response: {status: 200}
routes:
  - {name: health, match: {path: /healthz}, response: {status: 201}}
  - {name: vhost, match: {path: /, host: example.com}, response: {status: 202}}
  - {name: root, match: {path: /}, response: {status: 203}}
  - {name: api-get, match: {prefix: /api/, methods: [GET, HEAD]}, response: {status: 207}}
  - {name: api-v1, match: {path: /api/v1}, response: {status: 208}}
  - {name: wild, match: {prefix: /a, host: "*.example.com"}, response: {status: 226}}
  - {name: ipv6, match: {prefix: /a, host: "[::1]"}, response: {status: 402}}
  - {name: writes, match: {methods: [POST, PUT]}, response: {status: 409}}
  - {name: a-options, match: {prefix: /a, methods: [OPTIONS]}, response: {status: 410}}
  - {name: any-options, match: {methods: [OPTIONS, CONNECT]}, response: {status: 418}}
health: {path: /healthz, drain: 3s}
)";

const Snapshot& routed() {
  static const Snapshot snapshot = [] {
    auto config = parse_config(kRoutes, "request_fuzzer");
    if (!config) fail("the fuzzer's routes do not load:", config.error().message);
    return Snapshot(std::move(config).value());
  }();
  return snapshot;
}

// The reference the route table is checked against: every route in file
// order, each filter tested as hellod(8)'s manual states it. Host and path
// come from request_authority/request_path/host_for_matching (unit-tested);
// what is checked is the table's hashing, scanning and ordering.
bool host_matches(std::string_view pattern, std::string_view host) {
  if (pattern.empty()) return true;
  const std::string lowered = lower_case(host);
  if (!pattern.starts_with("*.")) return lowered == pattern;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  return lowered.size() > suffix.size() && lowered.ends_with(suffix);
}

std::size_t first_match(const Config& config, std::string_view method, std::string_view target,
                        std::string_view host_header) {
  const std::string_view path = request_path(target);
  const auto authority = request_authority(target);
  const std::string_view host = host_for_matching(authority ? *authority : host_header);
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteMatch& match = config.routes[i].match;
    const bool path_ok =
        match.path_kind == RouteMatch::PathKind::any ||
        (match.path_kind == RouteMatch::PathKind::exact && path == match.path) ||
        (match.path_kind == RouteMatch::PathKind::prefix && path.starts_with(match.path));
    const bool method_ok =
        match.methods.empty() || std::ranges::find(match.methods, method) != match.methods.end();
    if (path_ok && method_ok && host_matches(match.host, host)) return i;
  }
  return RouteTable::kNoRoute;
}

// The route Connection::answer would give the request the parser just
// completed, checked against first_match.
ReplyContext route_context(const RequestParser& parser, std::uint32_t requests,
                           const Setup& setup) {
  ReplyContext context{requests, setup.keepalive_requests, setup.draining};
  if (!setup.routed) return context;
  const Snapshot& snapshot = routed();
  context.route = route_of(snapshot.routes, parser);
  context.health_failing = setup.health_failing && snapshot.routes.is_health(context.route);
  const std::size_t expected =
      first_match(snapshot.config, parser.method(), parser.captured(Field::target),
                  parser.captured(Field::host));
  if (context.route != expected) {
    fail("the route table disagrees with the first match in file order for",
         parser.captured(Field::target));
  }
  return context;
}

int route_status(const ReplyContext& context) {
  const Config& config = routed().config;
  if (context.health_failing) return 503;
  return context.route < config.routes.size() ? config.routes[context.route].response.status
                                              : config.response.status;
}

// The Content-Length field's value in a head's field lines, or "" without one.
std::string_view content_length(std::string_view fields) {
  constexpr std::string_view kLength = "\r\nContent-Length: ";
  const std::size_t at = fields.find(kLength);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + kLength.size();
  return fields.substr(start, fields.find("\r\n", start) - start);
}

// The bytes hellod would write (its head and body buffers, or one buffer
// holding both for a small body) must be one well-formed response with the
// expected status and Connection header, a body of its Content-Length, and
// no body for HEAD.
void check_response(const ResponseBytes& bytes, int status, ConnectionHeader connection,
                    bool head) {
  const std::string wire = std::string(bytes.head) + std::string(bytes.body);
  const std::string prefix = "HTTP/1.1 " + std::to_string(status) + " ";
  if (wire.compare(0, prefix.size(), prefix) != 0) fail("bad status line", wire);
  const std::size_t end = wire.find("\r\n\r\n");
  if (end == std::string::npos) fail("no empty line ends the head", wire);
  const std::string_view fields = std::string_view(wire).substr(0, end + 2);
  const std::string_view body = std::string_view(wire).substr(end + 4);
  const bool says_close = fields.find("\r\nConnection: close\r\n") != std::string_view::npos;
  if (says_close != (connection == ConnectionHeader::close)) fail("wrong Connection", fields);
  if (head && !body.empty()) fail("HEAD response has a body", wire);
  const std::string_view length = content_length(fields);
  if (!head && !length.empty() && length != std::to_string(body.size())) {
    fail("the body is not its Content-Length", wire);
  }
}

// The connection's own decision (reply_for, shared with Connection), checked:
// errors carry a status hellod has a response for, and the bytes are one
// well-formed response that agrees with the decision.
Outcome reply(const ParseEvent& event, const ReplyContext& context, const Setup& setup) {
  if (event.kind == ParseEvent::Kind::error) {
    if (std::find(kErrorStatuses.begin(), kErrorStatuses.end(), event.error_status) ==
        kErrorStatuses.end()) {
      fail("unexpected error status", std::to_string(event.error_status));
    }
  }
  const Reply decided = reply_for(event, context, setup.routed ? routed().responses : responses());
  if (event.kind == ParseEvent::Kind::error && decided.status != event.error_status) {
    fail("error response has another status");
  }
  if (event.kind == ParseEvent::Kind::request && decided.route != context.route) {
    fail("the reply names another route");
  }
  if (event.kind == ParseEvent::Kind::request && setup.routed &&
      decided.status != route_status(context)) {
    fail("the reply's status is not its route's", std::to_string(decided.status));
  }
  if (decided.close_after != (decided.connection == ConnectionHeader::close)) {
    fail("closing without saying Connection: close (or the reverse)");
  }
  check_response(decided.bytes, decided.status, decided.connection, event.head);
  return Outcome{event.kind, decided.status, decided.connection, event.head, 0};
}

// Collected fields are views of bytes that were fed: reading them must be
// safe (ASan checks) and the target is never empty for a request.
void check_captures(const RequestParser& parser, FieldMask captures) {
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    const auto field = static_cast<Field>(i);
    const std::string_view value = parser.captured(field);
    std::size_t sum = 0;
    for (const char c : value) sum += static_cast<unsigned char>(c);
    if (value.empty() && sum != 0) fail("impossible");
    if ((captures & field_bit(field)) == 0 && !value.empty())
      fail("collected a field not asked for");
  }
  if ((captures & field_bit(Field::target)) != 0 && parser.captured(Field::target).empty()) {
    fail("a request without its target");
  }
}

// Feeds the reads one by one through drive_requests, as Connection::process
// does: parse until the read is used up, an error, or the response that ends
// the connection.
Run run_connection(std::string_view input, const std::vector<std::size_t>& reads,
                   const Setup& setup) {
  RequestParser parser;
  Run run;
  parser.set_captures(setup.captures);
  std::uint32_t requests = 0;
  std::uint32_t continues = 0;
  std::size_t offset = 0;
  for (const std::size_t size : reads) {
    if (run.closed) break;
    const std::string_view data = input.substr(offset, size);
    std::size_t position = offset;
    offset += size;
    drive_requests(parser, data, setup.limits, [&](const ParseEvent& event) {
      // A request may end where its 100 Continue paused (no body after all,
      // e.g. CONNECT); otherwise ending with no new byte would mean the next
      // feed could do the same, and process() would spin.
      const bool after_continue = !run.outcomes.empty() &&
                                  run.outcomes.back().kind == ParseEvent::Kind::send_continue &&
                                  run.outcomes.back().end == position;
      if (event.kind == ParseEvent::Kind::request && event.consumed == 0 && !after_continue) {
        fail("a request completed without consuming a byte (process() would spin)");
      }
      position += event.consumed;
      if (event.kind == ParseEvent::Kind::send_continue && ++continues > requests + 1) {
        fail("more than one 100 Continue for a request");
      }
      ReplyContext context{requests, setup.keepalive_requests, setup.draining};
      if (event.kind == ParseEvent::Kind::request) {
        ++requests;
        if (parser.should_keep_alive() != parser.llhttp_keep_alive()) {
          fail("the parser's keep-alive rule differs from llhttp_should_keep_alive()");
        }
        check_captures(parser, setup.captures);
        context = route_context(parser, requests, setup);
      }
      Outcome outcome = reply(event, context, setup);
      // Where llhttp notices an error may depend on the reads; not compared.
      if (event.kind != ParseEvent::Kind::error) outcome.end = position;
      run.closed = outcome.connection == ConnectionHeader::close;
      run.outcomes.push_back(outcome);
      return !run.closed;
    });
  }
  run.mid_request = !run.closed && parser.mid_request();
  return run;
}

// For the report when two runs disagree.
std::string describe(const Run& run) {
  std::string text;
  for (const Outcome& outcome : run.outcomes) {
    switch (outcome.kind) {
      case ParseEvent::Kind::request:
        text += "request ";
        break;
      case ParseEvent::Kind::send_continue:
        text += "continue ";
        break;
      default:
        text += "error ";
    }
    text += std::to_string(outcome.status) +
            " conn=" + std::to_string(static_cast<int>(outcome.connection)) +
            " head=" + std::to_string(outcome.head) + " end=" + std::to_string(outcome.end) + "; ";
  }
  return text + (run.closed ? "closed" : "open") + (run.mid_request ? " mid-request" : "");
}

void compare(const Run& expected, const Run& actual, const char* what) {
  if (actual == expected) return;
  std::fprintf(stderr, "one read:   %s\n%s: %s\n", describe(expected).c_str(), what,
               describe(actual).c_str());
  fail("the outcome depends on how the input was split into reads:", what);
}

// FNV-1a: a cheap, stable hash so the same input always splits the same way.
std::uint64_t hash_of(std::string_view input) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : input) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

// Read sizes from a xorshift stream seeded by the hash: mostly small reads
// (where boundaries inside tokens are most likely to matter), sometimes big.
std::vector<std::size_t> split_reads(std::size_t total, std::uint64_t seed) {
  std::vector<std::size_t> reads;
  std::uint64_t state = seed | 1;
  while (total > 0) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const std::size_t cap = (state & 0x300) == 0 ? 4096 : 16;
    const std::size_t size = std::min(total, static_cast<std::size_t>(state % cap) + 1);
    reads.push_back(size);
    total -= size;
  }
  return reads;
}

Setup setup_for(std::uint64_t hash) {
  Setup setup;
  constexpr std::uint32_t kHeaderLimits[] = {256, 1024, 8192, 65536};
  constexpr std::uint64_t kBodyLimits[] = {0, 16, 1'048'576, 1ULL << 40};
  constexpr std::uint32_t kKeepaliveRequests[] = {1, 3, 10'000, 10'000};
  setup.limits.max_header_bytes = kHeaderLimits[(hash >> 8) & 3];
  setup.limits.max_body_bytes = kBodyLimits[(hash >> 10) & 3];
  setup.keepalive_requests = kKeepaliveRequests[(hash >> 12) & 3];
  setup.draining = ((hash >> 14) & 15) == 0;
  setup.captures = static_cast<FieldMask>((hash >> 18) & 15);
  // As Connection::process does: the parser collects what the snapshot's
  // routes need (and, varied here, what the access log would).
  setup.routed = ((hash >> 22) & 3) != 0;
  if (setup.routed) setup.captures |= routed().captures;
  setup.health_failing = ((hash >> 24) & 1) != 0;
  return setup;
}

// Byte-at-a-time costs one feed per byte; keep it to inputs where that is
// still fast enough for the fuzzer to make progress.
constexpr std::size_t kMaxBytewiseInput = 4096;

}  // namespace
}  // namespace hellod

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hellod;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint64_t hash = hash_of(input);
  const Setup setup = setup_for(hash);

  const Run whole = run_connection(input, {size}, setup);
  const Run split = run_connection(input, split_reads(size, hash), setup);
  compare(whole, split, "split reads");
  if (size <= kMaxBytewiseInput) {
    const Run bytewise = run_connection(input, std::vector<std::size_t>(size, 1), setup);
    compare(whole, bytewise, "byte by byte");
  }
  return 0;
}
