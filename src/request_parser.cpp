#include "request_parser.hpp"

namespace hellod {
namespace {

constexpr std::string_view kHostName = "host";
constexpr std::uint8_t kManyHosts = 2;

RequestParser& parser_of(llhttp_t* parser) {
  return *static_cast<RequestParser*>(parser->data);
}

char lower_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

// llhttp calls plain C function pointers; these trampolines forward to the
// RequestParser that owns the llhttp_t (parser->data).
struct ParserCallbacks {
  static int on_message_begin(llhttp_t* parser) {
    parser_of(parser).begin_message();
    return HPE_OK;
  }

  static int on_url(llhttp_t* parser, const char* at, std::size_t length) {
    RequestParser& self = parser_of(parser);
    if (self.capture_target_) self.target_.append(at, length);
    return HPE_OK;
  }

  static int on_url_complete(llhttp_t* parser) {
    parser_of(parser).in_target_ = false;
    return HPE_OK;
  }

  // A field name is a token (RFC 9110 §5.1); llhttp 8.1 still passes
  // "Name :" through, so whitespace in the name is rejected here (RFC 9112
  // §5.1: a server MUST reject it, since proxies may disagree on the name).
  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
    RequestParser& self = parser_of(parser);
    self.value_done_ = false;
    for (std::size_t i = 0; i < length; ++i) {
      const char c = at[i];
      if (c == ' ' || c == '\t') return reject(self, 400);
      if (self.field_mismatch_ || self.field_matched_ >= kHostName.size() ||
          lower_ascii(c) != kHostName[self.field_matched_]) {
        self.field_mismatch_ = true;
      } else {
        ++self.field_matched_;
      }
    }
    return HPE_OK;
  }

  static int on_header_field_complete(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    if (!self.field_mismatch_ && self.field_matched_ == kHostName.size() &&
        self.host_headers_ < kManyHosts) {
      ++self.host_headers_;
    }
    self.field_matched_ = 0;
    self.field_mismatch_ = false;
    return HPE_OK;
  }

  // A value arriving after its field's value already ended is an obs-fold
  // continuation line, which RFC 9112 §5.2 lets a server reject with 400.
  static int on_header_value(llhttp_t* parser, const char* /*at*/, std::size_t /*length*/) {
    RequestParser& self = parser_of(parser);
    if (self.value_done_) return reject(self, 400);
    return HPE_OK;
  }

  static int on_header_value_complete(llhttp_t* parser) {
    parser_of(parser).value_done_ = true;
    return HPE_OK;
  }

  static int on_headers_complete(llhttp_t* parser) {
    RequestParser& self = parser_of(parser);
    self.headers_done_ = true;
    const int status = self.check_headers();
    return status == 0 ? HPE_OK : reject(self, status);
  }

  // Bodies are read and discarded; only their size matters.
  static int on_body(llhttp_t* parser, const char* /*at*/, std::size_t length) {
    RequestParser& self = parser_of(parser);
    self.body_bytes_ += length;
    if (self.body_bytes_ > self.limits_->max_body_bytes) return reject(self, 413);
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

  static llhttp_settings_t make_settings() {
    llhttp_settings_t settings{};
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_url_complete = on_url_complete;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    return settings;
  }
};

namespace {
const llhttp_settings_t kSettings = ParserCallbacks::make_settings();
}  // namespace

RequestParser::RequestParser() {
  llhttp_init(&parser_, HTTP_REQUEST, &kSettings);
  parser_.data = this;
}

ParseEvent RequestParser::feed(std::string_view data, const RequestLimits& limits) {
  limits_ = &limits;
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
  return fail(consumed, error);
}

ParseEvent RequestParser::finish_request(std::size_t consumed) {
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
    event.error_status = error == HPE_INVALID_VERSION ? 505 : 400;
  }
  end_message();
  return event;
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
  value_done_ = false;
  header_bytes_ = 0;
  body_bytes_ = 0;
  host_headers_ = 0;
  field_matched_ = 0;
  field_mismatch_ = false;
  if (capture_target_) target_.clear();
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
  if ((parser_.flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > limits_->max_body_bytes) {
    return 413;
  }
  return 0;
}

std::string_view RequestParser::method() const {
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

}  // namespace hellod
