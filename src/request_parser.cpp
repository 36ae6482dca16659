// SPDX-License-Identifier: MIT
#include "request_parser.hpp"

#include <cassert>
#include <cstring>

#include "request_captures.hpp"

namespace hellod {
namespace {

// llhttp says HPE_INVALID_VERSION both for a well-formed version it does not
// support ("HTTP/1.2": 505, RFC 9110 §15.6.6) and for one that is not
// DIGIT "." DIGIT ("HTTP/1.x", "HTTP/12.0": a malformed request line, 400,
// RFC 9112 §2.3); only its reason tells them apart. A unit test pins it.
constexpr const char* kUnsupportedVersionReason = "Invalid HTTP version";

// llhttp calls hellod's hooks directly (request_callbacks.cpp): nothing is
// looked up in its settings, which stay empty.
const llhttp_settings_t kNoSettings{};

}  // namespace

RequestParser::RequestParser() {
  llhttp_init(&parser_, HTTP_REQUEST, &kNoSettings);
  parser_.data = this;
}

RequestParser::~RequestParser() = default;

std::string_view RequestParser::method() const {
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

ParseEvent RequestParser::feed(std::string_view data, const RequestLimits& limits) {
  begin_feed(*this, data, spill_);
  take_limits(limits);
  ParseEvent event = feed_within_budget(data);
  remember_tail(data.substr(0, event.consumed));
  // A request still in progress (more bytes due, or a 100 Continue to send
  // first) outlives the bytes just fed: keep what was collected from them.
  if (in_message_) keep_captures();
  return event;
}

// The first byte after a request (an empty line, or the next request line)
// starts the next one: it takes the limits in force now and keeps them.
void RequestParser::take_limits(const RequestLimits& limits) {
  if (limits_taken_) return;
  limits_taken_ = true;
  head_budget_ = limits.max_header_bytes;
  body_budget_ = limits.max_body_bytes;
}

ParseEvent RequestParser::feed_within_budget(std::string_view data) {
  if (headers_done_) return execute(data);
  // Until the headers are complete, llhttp sees at most the bytes left in the
  // header budget, so an oversized header block is caught without storing it.
  const std::size_t budget = head_budget_;
  if (data.size() <= budget) {
    ParseEvent event = execute(data);
    if (event.kind == ParseEvent::Kind::need_more && !headers_done_) {
      head_budget_ -= static_cast<std::uint32_t>(data.size());
    }
    return event;
  }
  ParseEvent event = execute(data.substr(0, budget));
  if (event.kind != ParseEvent::Kind::need_more) return event;
  if (!headers_done_) {
    // RFC 9112 §3: 414 when the request line alone is too long.
    error_status_ = in_target_ ? 414 : 431;
    return fail(budget, HPE_USER);
  }
  ParseEvent rest = execute(data.substr(budget));
  rest.consumed += budget;
  return rest;
}

ParseEvent RequestParser::execute(std::string_view data) {
  message_done_ = false;
  const llhttp_errno_t error = llhttp_execute(&parser_, data.data(), data.size());
  if (error == HPE_OK) {
    // "GET /" CRLF is an HTTP/0.9 request line; strict llhttp waits for one
    // more byte before it says so, which a 0.9 client never sends. A target
    // holds no line break, so one here ends a request line without version.
    if (in_target_ && !data.empty() && data.back() == '\n') return fail(data.size(), HPE_USER);
    return ParseEvent{ParseEvent::Kind::need_more, data.size()};
  }
  const auto consumed = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data.data());
  if (error == HPE_PAUSED && message_done_) {
    llhttp_resume(&parser_);
    return finish_request(consumed);
  }
  if (error == HPE_PAUSED && continue_due_) {
    continue_due_ = false;
    llhttp_resume(&parser_);
    return ParseEvent{ParseEvent::Kind::send_continue, consumed};
  }
  return fail(consumed, error);
}

ParseEvent RequestParser::finish_request(std::size_t consumed) {
  // llhttp ends a header block at "\r\n\r" even in strict mode when nothing
  // follows; RFC 9112 §2.2 wants CRLF, so a bodiless request must end in LF.
  if (!body_seen_ && (parser_.flags & F_CHUNKED) == 0 && byte_before(consumed) != '\n') {
    return fail(consumed, HPE_CR_EXPECTED);
  }
  ParseEvent event{ParseEvent::Kind::request, consumed};
  event.upgrade = parser_.upgrade != 0;
  event.keep_alive = should_keep_alive() && !event.upgrade;
  event.head = parser_.method == HTTP_HEAD;
  event.http10 = http10();
  end_message();
  return event;
}

// llhttp_should_keep_alive() for a request, without two calls per request:
// HTTP/1.1 persists unless "Connection: close", 1.0 only with "keep-alive"
// (RFC 9112 §9.3); a request never needs EOF to end (llhttp_message_needs_eof
// is 0 for HTTP_REQUEST). A unit test pins the two together.
bool RequestParser::should_keep_alive() const {
  assert(parser_.type == HTTP_REQUEST);
  if (parser_.http_major > 0 && parser_.http_minor > 0)
    return (parser_.flags & F_CONNECTION_CLOSE) == 0;
  return (parser_.flags & F_CONNECTION_KEEP_ALIVE) != 0;
}

ParseEvent RequestParser::fail(std::size_t consumed, llhttp_errno_t error) {
  ParseEvent event{ParseEvent::Kind::error, consumed};
  if (error_status_ != 0) {
    event.error_status = error_status_;
  } else if (error == HPE_INVALID_VERSION) {
    event.error_status = version_error_status();
  } else {
    event.error_status = 400;
  }
  end_message();
  return event;
}

int RequestParser::version_error_status() const {
  const char* reason = llhttp_get_error_reason(&parser_);
  const bool unsupported =
      !version_seen_ && reason != nullptr && std::strcmp(reason, kUnsupportedVersionReason) == 0;
  return unsupported ? 505 : 400;
}

// The byte just before data[offset] of the current feed, looking into the
// previous feed when offset is 0.
char RequestParser::byte_before(std::size_t offset) const {
  return offset > 0 ? feed_start()[offset - 1] : prev_last_byte_;
}

void RequestParser::remember_tail(std::string_view consumed) {
  if (consumed.empty()) return;
  prev_last_byte_ = consumed.back();
  std::size_t end = consumed.size();
  while (end > 0 && (consumed[end - 1] == ' ' || consumed[end - 1] == '\t')) --end;
  // A feed of blanks alone (a fold's indent arriving byte by byte) leaves the
  // answer to whatever came before it.
  if (end > 0) prev_feed_ends_line_ = consumed[end - 1] == '\n';
}

void RequestParser::begin_message() {
  in_message_ = true;
  in_target_ = true;
  headers_done_ = false;
  body_seen_ = false;
  version_seen_ = false;
  host_headers_ = 0;
  transfer_encodings_ = 0;
  bad_transfer_coding_ = false;
  empty_transfer_coding_ = false;
  expect_continue_ = false;
  bad_expectation_ = false;
  field_ = Name::other;
  value_of_ = Name::other;
  name_open_ = false;
  name_.reset();
  clear_captures(spill_);
}

void RequestParser::end_message() {
  in_message_ = false;
  headers_done_ = false;
  limits_taken_ = false;
}

void RequestParser::keep_captures() {
  if (captures_ != 0) spill_captures(spill_);
}

}  // namespace hellod
