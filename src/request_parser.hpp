#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hellod {

// The limits a request is checked against; taken from the current config on
// every feed, so a reload applies to the next request.
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
  int error_status = 0;      // 400, 413, 414, 431 or 505 when kind == error
  bool keep_alive = false;   // the client allows another request (RFC 9112 §9.3)
  bool head = false;         // HEAD: same headers, no body
  bool http10 = false;       // HTTP/1.0: keep-alive must be said explicitly
  bool upgrade = false;      // CONNECT or Upgrade: what follows is not HTTP
};

// The llhttp adapter. llhttp parses incrementally, so no request bytes are
// kept between reads: an idle or partial connection owns only this state.
// On top of llhttp it enforces what RFC 9112 requires and llhttp 8.1 lets
// through: exactly one Host in HTTP/1.1 (§3.2), no obs-fold (§5.2), no
// whitespace before a header's colon (§5.1), versions 1.0 and 1.1 only.
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
  [[nodiscard]] bool mid_request() const { return in_message_; }
  // True while a request's body is arriving (its headers are complete).
  [[nodiscard]] bool in_body() const { return in_message_ && headers_done_; }

  // The access log wants the method, target, User-Agent and Referer of each
  // request; they are copied only while this is on (the first of each
  // header field, like nginx's $http_user_agent).
  void set_capture_target(bool capture);
  [[nodiscard]] std::string_view method() const;
  [[nodiscard]] std::string_view target() const;
  [[nodiscard]] std::optional<std::string_view> user_agent() const;
  [[nodiscard]] std::optional<std::string_view> referer() const;

 private:
  friend struct ParserCallbacks;

  ParseEvent feed_within_budget(std::string_view data, const RequestLimits& limits);
  ParseEvent execute(std::string_view data);
  [[nodiscard]] char byte_before(std::size_t offset) const;
  [[nodiscard]] bool follows_line_break(const char* at) const;
  void remember_tail(std::string_view consumed);
  ParseEvent finish_request(std::size_t consumed);
  ParseEvent fail(std::size_t consumed, llhttp_errno_t error);
  void begin_message();
  void match_field(std::string_view chunk);
  [[nodiscard]] std::string_view matched_field() const;
  [[nodiscard]] bool wants_continue() const;
  void end_message();
  int check_headers();

  struct Captured;

  llhttp_t parser_{};
  std::unique_ptr<Captured> captured_;  // only while capturing
  std::uint64_t body_bytes_ = 0;
  std::uint32_t header_bytes_ = 0;
  std::uint16_t error_status_ = 0;
  std::uint8_t host_headers_ = 0;
  std::uint8_t field_matched_ = 0;  // how much of "host" or "expect" the field name matched
  bool field_mismatch_ = false;
  bool field_is_expect_ = false;  // which name the current field is matched against
  bool expect_continue_ = false;
  bool continue_due_ = false;
  bool in_message_ = false;
  bool in_target_ = false;
  bool headers_done_ = false;
  bool version_seen_ = false;
  bool prev_feed_ends_line_ = false;  // the last feed ended "\n" plus optional blanks
  char prev_last_byte_ = 0;
  bool message_done_ = false;
};

}  // namespace hellod
