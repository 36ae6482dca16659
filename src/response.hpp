// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "http_date.hpp"

namespace hellod {

// What a response says about the connection it travels on (RFC 9112 §9.3,
// §9.6): nothing for a persistent HTTP/1.1 connection, "close" when hellod
// closes after it, "keep-alive" for an HTTP/1.0 client that asked for it.
enum class ConnectionHeader : unsigned char { none, close, keep_alive };

// The bytes of one response: the status line and headers, then the body.
// A large body is kept apart, shared rather than copied per variant; a small
// one comes right after the headers in `head` (one buffer), `body` empty.
struct ResponseBytes {
  std::string_view head;
  std::string_view body;
  const SharedBody* body_owner = nullptr;  // what body points into, when it is not empty
  [[nodiscard]] std::size_t size() const { return head.size() + body.size(); }
};

struct ResponseSpec {
  int status = 200;
  std::string content_type;
  SharedBody body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// One response rendered once into wire bytes, in every Connection variant.
// Only the 29 Date bytes change afterwards (set_date), so serving a request
// formats nothing.
class Response {
 public:
  Response(const ResponseSpec& spec, const HttpDate& date);

  [[nodiscard]] ResponseBytes bytes(ConnectionHeader connection, bool head_request) const;
  [[nodiscard]] int status() const { return status_; }

  // Rewrites the Date header of every variant in place.
  void set_date(const HttpDate& date);

 private:
  struct Variant {
    std::string head;
    std::string whole;  // head and body together, for a small body (else empty)
    std::size_t date_offset = 0;
  };

  std::array<Variant, 3> variants_;
  SharedBody body_;
  int status_;
};

// The standard reason phrase of a status code (RFC 9110 §15), or "" when the
// code has none.
std::string_view reason_phrase(int status);

// The statuses hellod answers malformed or refused requests with itself.
inline constexpr std::array<int, 7> kErrorStatuses{400, 413, 414, 417, 431, 501, 505};

// The configured responses and the error responses hellod sends itself.
struct ResponseSet {
  Response configured;           // the top-level response: no route matched
  std::vector<Response> routes;  // Config::routes[i].response, in the same order
  std::vector<Response> errors;  // one per kErrorStatuses entry, in that order
  Response service_unavailable;  // 503: a health route while draining

  // The top-level response only (no routes).
  ResponseSet(const ResponseConfig& config, const HttpDate& date);
  // The top-level response and one per route.
  ResponseSet(const Config& config, const HttpDate& date);

  // The response of route `route` (RouteTable::match()'s answer); the
  // top-level one for RouteTable::kNoRoute or any index past the routes.
  [[nodiscard]] const Response& for_route(std::size_t route) const {
    return route < routes.size() ? routes[route] : configured;
  }
  // The response for an error status from the request parser (400 for a
  // status hellod has no response of its own for).
  [[nodiscard]] const Response& for_error(int status) const;
  void set_date(const HttpDate& date);
};

}  // namespace hellod
