// SPDX-License-Identifier: MIT
// llhttp's callbacks for RequestParser, and the RFC 9112 checks hellod makes
// on top of llhttp as the fields go by.
#include <cassert>

#include "request_captures.hpp"
#include "request_parser.hpp"

namespace hellod {
namespace {

constexpr std::string_view kHostName = "host";
constexpr std::string_view kExpectName = "expect";
constexpr std::string_view kTransferEncodingName = "transfer-encoding";
constexpr std::string_view kUserAgentName = "user-agent";
constexpr std::string_view kRefererName = "referer";
constexpr std::string_view kChunked = "chunked";
constexpr std::string_view kContinue = "100-continue";
constexpr std::uint8_t kMany = 2;  // counting stops here: one or more than one is all that matters

RequestParser& parser_of(llhttp_t* parser) {
  return *static_cast<RequestParser*>(parser->data);
}

}  // namespace

// The callbacks llhttp's hooks (below) call, on the RequestParser that owns
// the llhttp_t (parser->data).
struct ParserCallbacks {
  static int on_message_begin(llhttp_t* parser) {
    parser_of(parser).begin_message();
    return HPE_OK;
  }

  static int on_url(llhttp_t* parser, const char* at, std::size_t length) {
    RequestParser& self = parser_of(parser);
    if (self.wants(Field::target)) capture_piece(self.spill_, Field::target, {at, length});
    return HPE_OK;
  }

  // llhttp reads "GET /\r\n" as an HTTP/0.9 request line (and marks it 0.9)
  // and would then wait for headers that never come: reject it at once.
  static int on_url_complete(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    self.in_target_ = false;
    if (llhttp_get_http_major(parser) == 0 && llhttp_get_http_minor(parser) == 9) {
      return reject(self, 400);
    }
    return HPE_OK;
  }

  static int on_version_complete(llhttp_t* parser) {
    parser_of(parser).version_seen_ = true;
    return HPE_OK;
  }

  // A field name is a token (RFC 9110 §5.1): strict llhttp refuses
  // whitespace in it or before the colon (RFC 9112 §5.1) by itself.
  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
    parser_of(parser).match_field(std::string_view(at, length));
    return HPE_OK;
  }

  // An obs-fold continuation line (RFC 9112 §5.2) reaches llhttp 8.1 as one
  // more value span that starts right after a line break (and the fold's
  // whitespace), even when the line holds only whitespace. A server may
  // reject it with 400; hellod does, since intermediaries disagree on what it
  // means. (llhttp also reports an empty value as an empty span at the end of
  // its line, which is no fold.)
  //
  // llhttp reports at least one value span (empty for an empty value)
  // between a name and the next name or the end of the header block, so the
  // first one also completes the name: that saves on_header_field_complete,
  // a callback per field.
  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
    RequestParser& self = parser_of(parser);
    if (self.name_open_) {
      self.name_open_ = false;
      self.value_of_ = RequestParser::Name::other;
      if (self.field_ != RequestParser::Name::other)
        self.name_complete();  // most fields are of no interest
    }
    if (length > 0 && self.follows_line_break(at)) return reject(self, 400);
    self.on_value(std::string_view(at, length));
    return HPE_OK;
  }

  static int on_headers_complete(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    if (self.name_open_) self.name_complete();
    self.end_value();
    self.headers_done_ = true;
    const int status = self.check_headers();
    if (status != 0) return reject(self, status);
    if (self.wants_continue()) {
      self.continue_due_ = true;
      return HPE_PAUSED;  // the caller sends 100 Continue, then feeds the body
    }
    return HPE_OK;
  }

  // A chunk larger than what is left of the body limit gets 413 before its
  // bytes are waited for.
  static int on_chunk_header(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    if (parser->content_length > self.body_budget_) return reject(self, 413);
    return HPE_OK;
  }

  // Bodies are read and discarded; only their size matters. Every declared
  // length was checked against the budget, so it cannot underflow.
  static int on_body(llhttp_t* parser, const char* /*at*/, std::size_t length) {
    RequestParser& self = parser_of(parser);
    assert(length <= self.body_budget_);
    self.body_budget_ -= length;
    self.body_seen_ = true;
    return HPE_OK;
  }

  // Pausing after each request hands it to the caller before the next
  // pipelined one is parsed.
  static int on_message_complete(llhttp_t* parser) {
    parser_of(parser).message_done_ = true;
    return HPE_PAUSED;
  }

  static int reject(RequestParser& self, int status) {
    self.error_status_ = static_cast<std::uint16_t>(status);
    return -1;
  }
};

// llhttp's generated parser calls its hooks by name (llhttp__on_*). Its own
// api.c defines them to look each callback up in llhttp_settings_t and call
// it through a pointer, turning a span callback's -1 into HPE_USER. hellod
// has one set of callbacks, so it defines the hooks itself, with the same
// results, and cmake/llhttp.cmake renames api.c's out of the way: direct
// calls, which link-time optimisation inlines into llhttp's loop, and the
// hooks hellod does not use cost nothing (callgrind, one keep-alive request:
// 2,989 -> 2,703 instructions).
namespace {

// api.c's SPAN_CALLBACK_MAYBE: -1 from a span callback is HPE_USER.
int span_result(llhttp_t* parser, int status, const char* reason) {
  if (status != -1) return status;
  llhttp_set_error_reason(parser, reason);
  return HPE_USER;
}

}  // namespace
}  // namespace hellod

extern "C" {
using hellod::ParserCallbacks;
using hellod::span_result;

// NOLINTBEGIN(readability-identifier-naming): llhttp names its hooks.
int llhttp__on_message_begin(llhttp_t* s, const char* /*p*/, const char* /*endp*/) {
  return ParserCallbacks::on_message_begin(s);
}
int llhttp__on_url(llhttp_t* s, const char* p, const char* endp) {
  return span_result(s, ParserCallbacks::on_url(s, p, static_cast<std::size_t>(endp - p)),
                     "Span callback error in on_url");
}
int llhttp__on_url_complete(llhttp_t* s, const char* /*p*/, const char* /*endp*/) {
  return ParserCallbacks::on_url_complete(s);
}
int llhttp__on_version_complete(llhttp_t* s, const char* /*p*/, const char* /*endp*/) {
  return ParserCallbacks::on_version_complete(s);
}
int llhttp__on_header_field(llhttp_t* s, const char* p, const char* endp) {
  return span_result(s, ParserCallbacks::on_header_field(s, p, static_cast<std::size_t>(endp - p)),
                     "Span callback error in on_header_field");
}
int llhttp__on_header_value(llhttp_t* s, const char* p, const char* endp) {
  return span_result(s, ParserCallbacks::on_header_value(s, p, static_cast<std::size_t>(endp - p)),
                     "Span callback error in on_header_value");
}
int llhttp__on_headers_complete(llhttp_t* s, const char* /*p*/, const char* /*endp*/) {
  return ParserCallbacks::on_headers_complete(s);
}
int llhttp__on_chunk_header(llhttp_t* s, const char* /*p*/, const char* /*endp*/) {
  return ParserCallbacks::on_chunk_header(s);
}
int llhttp__on_body(llhttp_t* s, const char* p, const char* endp) {
  return span_result(s, ParserCallbacks::on_body(s, p, static_cast<std::size_t>(endp - p)),
                     "Span callback error in on_body");
}
int llhttp__on_message_complete(llhttp_t* s, const char* /*p*/, const char* /*endp*/) {
  return ParserCallbacks::on_message_complete(s);
}

// The hooks hellod has no use for: nothing to do, HPE_OK.
#define HELLOD_LLHTTP_UNUSED_HOOK(name)                                             \
  int llhttp__on_##name(llhttp_t* /*s*/, const char* /*p*/, const char* /*endp*/) { \
    return HPE_OK;                                                                  \
  }
HELLOD_LLHTTP_UNUSED_HOOK(status)
HELLOD_LLHTTP_UNUSED_HOOK(status_complete)
HELLOD_LLHTTP_UNUSED_HOOK(method)
HELLOD_LLHTTP_UNUSED_HOOK(method_complete)
HELLOD_LLHTTP_UNUSED_HOOK(version)
HELLOD_LLHTTP_UNUSED_HOOK(header_field_complete)
HELLOD_LLHTTP_UNUSED_HOOK(header_value_complete)
HELLOD_LLHTTP_UNUSED_HOOK(chunk_extension_name)
HELLOD_LLHTTP_UNUSED_HOOK(chunk_extension_name_complete)
HELLOD_LLHTTP_UNUSED_HOOK(chunk_extension_value)
HELLOD_LLHTTP_UNUSED_HOOK(chunk_extension_value_complete)
HELLOD_LLHTTP_UNUSED_HOOK(chunk_complete)
HELLOD_LLHTTP_UNUSED_HOOK(reset)
#undef HELLOD_LLHTTP_UNUSED_HOOK
// NOLINTEND(readability-identifier-naming)
}

namespace hellod {

bool RequestParser::follows_line_break(const char* at) const {
  const char* start = feed_start();
  // Nearly every value follows ": " in the same read. llhttp starts a
  // fold's span after the fold's blanks, so ": " right before the span
  // belongs to the span's own line: no fold.
  if (at - start >= 2 && at[-1] == ' ' && at[-2] == ':') return false;
  const char* p = at;
  while (p > start && (p[-1] == ' ' || p[-1] == '\t')) --p;
  if (p > start) return p[-1] == '\n';
  return prev_feed_ends_line_;
}

// The names are told apart by their first letter, so most names fail on
// their length at once, without a per-byte loop.
std::string_view RequestParser::name_literal(Name name) {
  switch (name) {
    case Name::host:
      return kHostName;
    case Name::expect:
      return kExpectName;
    case Name::transfer_encoding:
      return kTransferEncodingName;
    case Name::user_agent:
      return kUserAgentName;
    case Name::referer:
      return kRefererName;
    case Name::other:
      break;
  }
  return {};
}

RequestParser::Name RequestParser::candidate(char first) const {
  switch (first | 0x20) {
    case 'h':
      return Name::host;
    case 'e':
      return Name::expect;
    case 't':
      return Name::transfer_encoding;
    case 'u':
      return wants(Field::user_agent) ? Name::user_agent : Name::other;
    case 'r':
      return wants(Field::referer) ? Name::referer : Name::other;
    default:
      return Name::other;
  }
}

// The first piece of a name also ends the previous field's value. llhttp
// reports an empty name (a line starting with ":") as one empty piece: it
// still opens a field, so its value is not taken for the previous one's.
void RequestParser::match_field(std::string_view chunk) {
  if (!name_open_) {
    end_value();
    name_open_ = true;
    name_seen_ = false;
    field_ = Name::other;
  }
  if (chunk.empty()) return;
  if (!name_seen_) {
    name_seen_ = true;
    field_ = candidate(chunk[0]);
  }
  // No candidate: the rest of the name is skipped.
  if (field_ != Name::other) name_.feed_name(chunk, name_literal(field_));
}

void RequestParser::name_complete() {
  name_open_ = false;
  value_of_ = field_ != Name::other && name_.matches(name_literal(field_)) ? field_ : Name::other;
  field_ = Name::other;
  name_.reset();
  value_.reset();
  switch (value_of_) {
    case Name::host:
      if (host_headers_ < kMany) ++host_headers_;
      if (wants(Field::host)) restart_capture(Field::host);
      break;
    case Name::transfer_encoding:
      if (transfer_encodings_ < kMany) ++transfer_encodings_;
      break;
    case Name::user_agent:
      if (wants(Field::user_agent)) restart_capture(Field::user_agent);
      break;
    case Name::referer:
      if (wants(Field::referer)) restart_capture(Field::referer);
      break;
    case Name::expect:
    case Name::other:
      break;
  }
}

void RequestParser::on_value(std::string_view chunk) {
  switch (value_of_) {
    case Name::expect:
      value_.feed(chunk, kContinue);
      break;
    case Name::transfer_encoding:
      value_.feed(chunk, kChunked);
      break;
    case Name::host:
      if (wants(Field::host)) capture_piece(spill_, Field::host, chunk);
      break;
    case Name::user_agent:
      if (wants(Field::user_agent)) capture_piece(spill_, Field::user_agent, chunk);
      break;
    case Name::referer:
      if (wants(Field::referer)) capture_piece(spill_, Field::referer, chunk);
      break;
    case Name::other:
      break;
  }
}

// Called where the next name starts or the headers end, which saves a
// callback per field: only Expect and Transfer-Encoding values matter here.
void RequestParser::end_value() {
  if (value_of_ == Name::expect) {
    // RFC 9110 §10.1.1: 100-continue is the only expectation defined.
    if (value_.matches(kContinue)) {
      expect_continue_ = true;
    } else {
      bad_expectation_ = true;
    }
  } else if (value_of_ == Name::transfer_encoding) {
    if (value_.empty()) {
      empty_transfer_coding_ = true;
    } else if (!value_.matches(kChunked)) {
      bad_transfer_coding_ = true;
    }
  }
  value_of_ = Name::other;
}

// Checks llhttp leaves to the server, run once the header block is complete.
int RequestParser::check_headers() {
  const unsigned major = llhttp_get_http_major(&parser_);
  const unsigned minor = llhttp_get_http_minor(&parser_);
  if (major == 0) return 400;  // an HTTP/0.9 request line has no version
  if (major != 1 || minor > 1) return 505;
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any
  // request with more than one.
  if (host_headers_ > 1 || (minor == 1 && host_headers_ == 0)) return 400;
  if (const int framing = check_transfer_encoding(); framing != 0) return framing;
  // HTTP/1.0 has no expectations to meet (RFC 9110 §10.1.1: ignore them).
  if (bad_expectation_ && minor == 1) return 417;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > body_budget_) return 413;
  return 0;
}

// RFC 9112 §6.1 and §6.3: the framing of a request with Transfer-Encoding
// is defined only for HTTP/1.1, without Content-Length, with chunked applied
// once and last. Everything else is 400, except a coding hellod does not
// implement beside a final chunked, which is 501.
int RequestParser::check_transfer_encoding() const {
  if (transfer_encodings_ == 0) return 0;
  if (http10() || empty_transfer_coding_ || (parser_.flags & F_CONTENT_LENGTH) != 0 ||
      (parser_.flags & F_CHUNKED) == 0) {
    return 400;
  }
  if (bad_transfer_coding_) return 501;
  return transfer_encodings_ > 1 ? 400 : 0;  // chunked twice
}

// RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may wait for
// an interim 100 before sending the body, so say it when a body is coming.
bool RequestParser::wants_continue() const {
  const bool body_follows = (parser_.flags & F_CHUNKED) != 0 ||
                            ((parser_.flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > 0);
  // CONNECT has no body for llhttp to read: what follows is the tunnel.
  return expect_continue_ && body_follows && parser_.http_minor == 1 &&
         parser_.method != HTTP_CONNECT;
}

std::string_view RequestParser::captured(Field field) const {
  return captured_field(*this, spill_.get(), field);
}

}  // namespace hellod
