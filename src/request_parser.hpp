// SPDX-License-Identifier: MIT
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "token_matcher.hpp"

namespace hellod {

// The limits a request is checked against. A request takes them from the
// configuration in force when its first byte arrives and keeps them to its
// end, so a reload can never leave it with a budget that wraps or one larger
// than both the old and the new limit.
struct RequestLimits {
  std::uint32_t max_header_bytes = 8192;
  std::uint64_t max_body_bytes = 1'048'576;
};

// What feeding bytes produced. The parser stops after each complete request
// so the caller answers requests one by one, in order.
struct ParseEvent {
  // send_continue: the headers asked for 100 Continue before the body.
  enum class Kind : unsigned char { need_more, request, error, send_continue };
  Kind kind = Kind::need_more;
  std::size_t consumed = 0;  // bytes of the input used, including the request's end
  int error_status = 0;      // 400, 413, 414, 417, 431, 501 or 505 when kind == error
  bool keep_alive = false;   // the client allows another request (RFC 9112 §9.3)
  bool head = false;         // HEAD: same headers, no body
  bool http10 = false;       // HTTP/1.0: keep-alive must be said explicitly
  bool upgrade = false;      // CONNECT or Upgrade: what follows is not HTTP
};

// Request fields a caller may want after a request completes (routing, the
// access log). Collecting one costs work per span, so only the asked-for
// ones are collected.
enum class Field : unsigned char { target, host, user_agent, referer };
inline constexpr std::size_t kFieldCount = 4;
using FieldMask = std::uint8_t;
constexpr FieldMask field_bit(Field field) {
  return static_cast<FieldMask>(1U << static_cast<unsigned>(field));
}

struct CaptureSpill;

// The llhttp adapter, with llhttp in its strict mode. llhttp parses
// incrementally, so no request bytes are kept between reads: an idle or
// partial connection owns only this state. On top of llhttp it enforces what
// RFC 9112 requires and llhttp 8.1 lets through: exactly one Host in
// HTTP/1.1 (§3.2), no obs-fold (§5.2), no whitespace before a header's colon
// (§5.1), versions 1.0 and 1.1 only, "chunked" as the only transfer coding
// (§6.1, §7), declared bodies within the limit, Expect: 100-continue as the
// only expectation (RFC 9110 §10.1.1).
class RequestParser {
 public:
  RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;
  ~RequestParser();

  // Parses data until one request completes, an error is found, or the data
  // ends. After an error the parser must not be fed again.
  ParseEvent feed(std::string_view data, const RequestLimits& limits);

  // True once any byte of a request has arrived and until it completes.
  // Empty lines before a request line (RFC 9112 §2.2) do not count: they
  // keep no connection alive, but they do count toward max_header_bytes.
  [[nodiscard]] bool mid_request() const { return in_message_; }
  // True while a request's body is arriving (its headers are complete).
  [[nodiscard]] bool in_body() const { return in_message_ && headers_done_; }

  // Which fields the next requests collect; cheap to call per request.
  void set_captures(FieldMask fields) { captures_ = fields; }
  // After a request event: the method, and a collected field (empty when it
  // was absent or not collected). Valid until this or any other parser on
  // the same thread is fed again.
  [[nodiscard]] std::string_view method() const;
  // The method as llhttp numbers it (llhttp_method_t), for comparing.
  [[nodiscard]] unsigned method_number() const { return parser_.method; }
  [[nodiscard]] std::string_view captured(Field field) const;
  [[nodiscard]] bool http10() const { return parser_.http_minor == 0; }
  // Whether the request just completed lets the connection persist: what
  // llhttp_should_keep_alive() says, computed here.
  [[nodiscard]] bool should_keep_alive() const;
  // llhttp's own answer, for the test that pins the two together.
  [[nodiscard]] bool llhttp_keep_alive() const { return llhttp_should_keep_alive(&parser_) != 0; }

 private:
  friend struct ParserCallbacks;

  void take_limits(const RequestLimits& limits);
  ParseEvent feed_within_budget(std::string_view data);
  ParseEvent execute(std::string_view data);
  [[nodiscard]] char byte_before(std::size_t offset) const;
  [[nodiscard]] bool follows_line_break(const char* at) const;
  void remember_tail(std::string_view consumed);
  ParseEvent finish_request(std::size_t consumed);
  ParseEvent fail(std::size_t consumed, llhttp_errno_t error);
  [[nodiscard]] int version_error_status() const;
  void begin_message();
  void end_message();
  void match_field(std::string_view chunk);
  void name_complete();
  void on_value(std::string_view chunk);
  void end_value();
  [[nodiscard]] bool wants(Field field) const { return (captures_ & field_bit(field)) != 0; }
  int check_headers();
  [[nodiscard]] int check_transfer_encoding() const;
  [[nodiscard]] bool wants_continue() const;
  void capture(Field field, std::string_view piece);
  void keep_captures();

  // The header field being read, as far as hellod cares about it.
  enum class Name : unsigned char { other, host, expect, transfer_encoding, user_agent, referer };

  static std::string_view name_literal(Name name);
  [[nodiscard]] Name candidate(char first) const;

  llhttp_t parser_{};
  std::unique_ptr<CaptureSpill> spill_;  // only while a request with captures spans reads
  std::uint64_t body_budget_ = 0;        // of the request in progress
  std::uint32_t head_budget_ = 0;        // bytes its head may still take, empty lines included
  TokenMatcher name_;                    // the field name against `field_`'s name
  TokenMatcher value_;                   // its value, where the value matters
  std::uint16_t error_status_ = 0;
  Name field_ = Name::other;     // the name being read, while it may still match
  Name value_of_ = Name::other;  // the field whose value is being read
  FieldMask captures_ = 0;
  std::uint8_t host_headers_ = 0;
  std::uint8_t transfer_encodings_ = 0;
  // Bits, not bools: with the flags below, every byte added to a parser is
  // one more in each idle connection (RSS per connection, issue 5).
  bool limits_taken_ : 1 = false;  // the budgets belong to the request in progress
  bool bad_transfer_coding_ : 1 = false;
  bool empty_transfer_coding_ : 1 = false;
  bool expect_continue_ : 1 = false;
  bool bad_expectation_ : 1 = false;
  bool continue_due_ : 1 = false;
  bool in_message_ = false;
  bool name_open_ = false;  // a field name has begun and no value piece followed yet
  bool name_seen_ = false;  // ... and a byte of it has arrived
  bool in_target_ = false;
  bool headers_done_ = false;
  bool body_seen_ = false;
  bool version_seen_ = false;
  bool prev_feed_ends_line_ = false;  // the last feed ended "\n" plus optional blanks
  char prev_last_byte_ = 0;
  bool message_done_ = false;
};

}  // namespace hellod
