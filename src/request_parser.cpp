#include "request_parser.hpp"

#include <cstring>

#include "request_capture.hpp"

namespace hellod {
namespace {

// The field names the parser looks for; a name is matched against the one
// that starts with its first letter.
constexpr std::string_view kHostName = "host";
constexpr std::string_view kExpectName = "expect";
constexpr std::uint8_t kManyHosts = 2;

// What the feed in progress on this thread works with. Kept per thread, not
// per connection, because it only matters while llhttp runs; every idle
// connection saves the bytes.
struct FeedContext {
  const RequestLimits* limits = nullptr;
  const char* start = nullptr;
};
thread_local FeedContext feed_context;

RequestParser& parser_of(llhttp_t* parser) {
  return *static_cast<RequestParser*>(parser->data);
}

// Setting bit 5 lowercases an ASCII letter; for the all-letter names matched
// here, only the letter itself, in either case, can then compare equal.
char fold_case(char c) {
  return static_cast<char>(c | 0x20);
}

// Eight bytes at a time (the "has zero byte" bit trick on bytes XOR 0x20):
// header names are short, and a byte loop with an early exit costs several
// instructions per byte on this hot path.
bool contains_space(std::string_view text) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  constexpr std::uint64_t kSpaces = 0x2020202020202020ULL;
  std::size_t i = 0;
  for (; i + sizeof(std::uint64_t) <= text.size(); i += sizeof(std::uint64_t)) {
    std::uint64_t word = 0;
    std::memcpy(&word, text.data() + i, sizeof(word));
    const std::uint64_t spaces = word ^ kSpaces;  // a space becomes a zero byte
    if (((spaces - kOnes) & ~spaces & kHighBits) != 0) return true;
  }
  for (; i < text.size(); ++i) {
    if (text[i] == ' ') return true;
  }
  return false;
}

}  // namespace

// llhttp calls plain C function pointers; these trampolines forward to the
// RequestParser that owns the llhttp_t (parser->data).
struct ParserCallbacks {
  static int on_message_begin(llhttp_t* parser) {
    parser_of(parser).begin_message();
    return HPE_OK;
  }

  // Registered only while the access log wants targets and fields.
  static int on_url(llhttp_t* parser, const char* at, std::size_t length) {
    parser_of(parser).captured_->target.append(at, length);
    return HPE_OK;
  }
  static int on_header_field_captured(llhttp_t* parser, const char* at, std::size_t length) {
    parser_of(parser).captured_->on_field(std::string_view(at, length));
    return on_header_field(parser, at, length);
  }
  static int on_header_field_complete_captured(llhttp_t* parser) {
    parser_of(parser).captured_->on_field_complete();
    return on_header_field_complete(parser);
  }
  static int on_header_value_captured(llhttp_t* parser, const char* at, std::size_t length) {
    const int status = on_header_value(parser, at, length);
    if (status == HPE_OK) parser_of(parser).captured_->on_value(std::string_view(at, length));
    return status;
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

  // A field name is a token (RFC 9110 §5.1); llhttp 8.1 still passes "Name :"
  // and even "Na me" through, so a space in the name is rejected here (RFC
  // 9112 §5.1: a server MUST, since proxies may disagree on the name). llhttp
  // already refuses HTAB and the other control characters in names.
  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
    RequestParser& self = parser_of(parser);
    if (contains_space(std::string_view(at, length))) return reject(self, 400);
    self.match_field(std::string_view(at, length));
    return HPE_OK;
  }

  static int on_header_field_complete(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    const std::string_view matched = self.matched_field();
    if (matched == kHostName && self.host_headers_ < kManyHosts) ++self.host_headers_;
    if (matched == kExpectName) self.expect_continue_ = true;
    self.field_matched_ = 0;
    self.field_mismatch_ = false;
    return HPE_OK;
  }

  // An obs-fold continuation line (RFC 9112 §5.2) reaches llhttp 8.1 as one
  // more value span that starts right after a line break (and the fold's
  // whitespace). A server may reject it with 400; hellod does, since
  // intermediaries disagree on what it means.
  // (llhttp also reports an empty value as an empty span at the end of its
  // line, which is no fold.)
  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
    RequestParser& self = parser_of(parser);
    if (length > 0 && self.follows_line_break(at)) return reject(self, 400);
    return HPE_OK;
  }

  static int on_headers_complete(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    self.headers_done_ = true;
    const int status = self.check_headers();
    if (status != 0) return reject(self, status);
    if (self.wants_continue()) {
      self.continue_due_ = true;
      return HPE_PAUSED;  // the caller sends 100 Continue, then feeds the body
    }
    return HPE_OK;
  }

  // Bodies are read and discarded; only their size matters.
  static int on_body(llhttp_t* parser, const char* /*at*/, std::size_t length) {
    RequestParser& self = parser_of(parser);
    self.body_bytes_ += length;
    if (self.body_bytes_ > feed_context.limits->max_body_bytes) return reject(self, 413);
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

  static llhttp_settings_t make_settings(bool capture_target) {
    llhttp_settings_t settings{};
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url_complete = on_url_complete;
    settings.on_version_complete = on_version_complete;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    if (capture_target) {
      settings.on_url = on_url;
      settings.on_header_field = on_header_field_captured;
      settings.on_header_field_complete = on_header_field_complete_captured;
      settings.on_header_value = on_header_value_captured;
    }
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    return settings;
  }
};

namespace {
// Each llhttp span callback costs a call per span, so the target is only
// collected when the access log needs it.
const llhttp_settings_t kSettings = ParserCallbacks::make_settings(false);
const llhttp_settings_t kCaptureSettings = ParserCallbacks::make_settings(true);
}  // namespace

RequestParser::RequestParser() {
  llhttp_init(&parser_, HTTP_REQUEST, &kSettings);
  parser_.data = this;
}

RequestParser::~RequestParser() = default;

void RequestParser::set_capture_target(bool capture) {
  if (capture == (captured_ != nullptr)) return;
  if (capture) {
    captured_ = std::make_unique<Captured>();
  } else {
    captured_.reset();
  }
  parser_.settings = const_cast<llhttp_settings_t*>(capture ? &kCaptureSettings : &kSettings);
}

std::string_view RequestParser::target() const {
  return captured_ != nullptr ? std::string_view(captured_->target) : std::string_view();
}

std::optional<std::string_view> RequestParser::user_agent() const {
  if (captured_ == nullptr || !captured_->has_user_agent) return std::nullopt;
  return captured_->user_agent;
}

std::optional<std::string_view> RequestParser::referer() const {
  if (captured_ == nullptr || !captured_->has_referer) return std::nullopt;
  return captured_->referer;
}

// Matches the field name against Host and Expect without a per-byte loop over
// other names: most are longer and fail the length check at once.
void RequestParser::match_field(std::string_view chunk) {
  if (field_mismatch_ || chunk.empty()) return;
  if (field_matched_ == 0) field_is_expect_ = fold_case(chunk[0]) == kExpectName[0];
  const std::string_view name = field_is_expect_ ? kExpectName : kHostName;
  if (field_matched_ + chunk.size() > name.size()) {
    field_mismatch_ = true;
    return;
  }
  for (std::size_t i = 0; i < chunk.size(); ++i) {
    if (fold_case(chunk[i]) != name[field_matched_ + i]) {
      field_mismatch_ = true;
      return;
    }
  }
  field_matched_ = static_cast<std::uint8_t>(field_matched_ + chunk.size());
}

std::string_view RequestParser::matched_field() const {
  const std::string_view name = field_is_expect_ ? kExpectName : kHostName;
  return !field_mismatch_ && field_matched_ == name.size() ? name : std::string_view();
}

ParseEvent RequestParser::feed(std::string_view data, const RequestLimits& limits) {
  feed_context = FeedContext{&limits, data.data()};
  ParseEvent event = feed_within_budget(data, limits);
  remember_tail(data.substr(0, event.consumed));
  return event;
}

ParseEvent RequestParser::feed_within_budget(std::string_view data, const RequestLimits& limits) {
  if (headers_done_) return execute(data);
  // Until the headers are complete, llhttp sees at most the bytes left in the
  // header budget, so an oversized header block is caught without storing it.
  const std::size_t budget = limits.max_header_bytes - header_bytes_;
  if (data.size() <= budget) {
    ParseEvent event = execute(data);
    if (event.kind == ParseEvent::Kind::need_more && in_message_ && !headers_done_) {
      header_bytes_ += static_cast<std::uint32_t>(data.size());
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
  if (error == HPE_OK) return ParseEvent{ParseEvent::Kind::need_more, data.size()};
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
  // llhttp 8.1 ends a header block at "\r\n\r" too; RFC 9112 §2.2 wants
  // CRLF, so a bodiless request must end in LF.
  if (body_bytes_ == 0 && (parser_.flags & F_CHUNKED) == 0 && byte_before(consumed) != '\n') {
    return fail(consumed, HPE_CR_EXPECTED);
  }
  ParseEvent event{ParseEvent::Kind::request, consumed};
  event.upgrade = llhttp_get_upgrade(&parser_) != 0;
  event.keep_alive = llhttp_should_keep_alive(&parser_) != 0 && !event.upgrade;
  event.head = llhttp_get_method(&parser_) == HTTP_HEAD;
  event.http10 = llhttp_get_http_minor(&parser_) == 0;
  end_message();
  return event;
}

ParseEvent RequestParser::fail(std::size_t consumed, llhttp_errno_t error) {
  ParseEvent event{ParseEvent::Kind::error, consumed};
  if (error_status_ != 0) {
    event.error_status = error_status_;
  } else {
    // llhttp says HPE_INVALID_VERSION both for "HTTP/1.2" (505, RFC 9110
    // §15.6.6) and for junk after a valid version (400).
    event.error_status = error == HPE_INVALID_VERSION && !version_seen_ ? 505 : 400;
  }
  end_message();
  return event;
}

// The byte just before data[offset] of the current feed, looking into the
// previous feed when offset is 0.
char RequestParser::byte_before(std::size_t offset) const {
  return offset > 0 ? feed_context.start[offset - 1] : prev_last_byte_;
}

bool RequestParser::follows_line_break(const char* at) const {
  const char* p = at;
  while (p > feed_context.start && (p[-1] == ' ' || p[-1] == '\t')) --p;
  if (p > feed_context.start) return p[-1] == '\n';
  return prev_feed_ends_line_;
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

void RequestParser::end_message() {
  in_message_ = false;
  headers_done_ = false;
  header_bytes_ = 0;
}

void RequestParser::begin_message() {
  in_message_ = true;
  in_target_ = true;
  headers_done_ = false;
  version_seen_ = false;
  header_bytes_ = 0;
  body_bytes_ = 0;
  host_headers_ = 0;
  expect_continue_ = false;
  field_matched_ = 0;
  field_mismatch_ = false;
  if (captured_ != nullptr) captured_->clear();
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
  if ((parser_.flags & F_CONTENT_LENGTH) != 0 &&
      parser_.content_length > feed_context.limits->max_body_bytes) {
    return 413;
  }
  return 0;
}

// RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may wait for
// an interim 100 before sending the body, so say it when a body is coming.
// 100-continue is the only expectation defined; others are treated alike.
bool RequestParser::wants_continue() const {
  const bool body_follows = (parser_.flags & F_CHUNKED) != 0 ||
                            ((parser_.flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > 0);
  // CONNECT has no body for llhttp to read: what follows is the tunnel.
  return expect_continue_ && body_follows && parser_.http_minor == 1 &&
         parser_.method != HTTP_CONNECT;
}

std::string_view RequestParser::method() const {
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

}  // namespace hellod
