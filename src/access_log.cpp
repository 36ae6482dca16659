// SPDX-License-Identifier: MIT
#include "access_log.hpp"

#include <arpa/inet.h>
#include <fmt/compile.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <array>
#include <cassert>
#include <cstring>
#include <ctime>

namespace hellod {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view kHex = "0123456789abcdef";
constexpr std::int64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint64_t kNsPerMicrosecond = 1000;
constexpr std::uint32_t kMicrosecondDigits = 6;

// The whole microseconds past the second, of nanoseconds.
std::uint32_t microseconds_past_second(std::uint64_t ns) {
  return static_cast<std::uint32_t>(ns % kNsPerSecond / kNsPerMicrosecond);
}

// The line builders append to the logger's batch piece by piece, without
// fmt::format_to into a std::string, which resizes the string (zero-filling
// the new room) for every call. With that, the date's formatting once a
// second, and escapes that copy runs of plain bytes, a text line adds about
// 3,300 instructions to a request where it added 6,557 (callgrind, ab -k).
void append_decimal(std::string& out, std::uint64_t value) {
  const fmt::format_int digits(value);
  out.append(digits.data(), digits.size());
}

// value < 10^width, written with exactly width digits.
void append_zero_padded(std::string& out, std::uint32_t value, std::uint32_t width) {
  std::array<char, 10> digits{};
  assert(width <= digits.size());
  for (std::uint32_t i = width; i > 0; --i, value /= 10)
    digits[i - 1] = static_cast<char>('0' + (value % 10));
  assert(value == 0);  // it had at most width digits
  out.append(digits.data(), width);
}

void append_hex_byte(std::string& out, std::string_view prefix, unsigned char byte) {
  out.append(prefix);
  out += kHex[byte >> 4U];
  out += kHex[byte & 0xfU];
}

bool continuation(unsigned char byte) {
  return (byte & 0xc0U) == 0x80U;
}

// The length of the valid UTF-8 sequence at the start of bytes (RFC 3629 §4:
// no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view bytes) {
  const auto at = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char lead = at(0);
  std::size_t length = 0;
  unsigned char low = 0x80;  // the second byte's range depends on the lead
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (bytes.size() < length || at(1) < low || at(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (!continuation(at(i))) return 0;
  }
  return length;
}

void append_json_control(std::string& out, unsigned char byte) {
  switch (byte) {
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      append_hex_byte(out, "\\u00", byte);
  }
}

void append_http_version(std::string& out, const AccessRecord& record) {
  if (record.http_major == 0) {
    out += '-';
    return;
  }
  out += "HTTP/"sv;
  append_decimal(out, record.http_major);
  out += '.';
  append_decimal(out, record.http_minor);
}

std::string http_version(const AccessRecord& record) {
  std::string out;
  append_http_version(out, record);
  return out;
}

// Appends the numeric address; false (and nothing appended) for a
// unix-socket client.
bool append_address(std::string& out, const ClientAddress& client) {
  if (client.family == AF_INET) {
    // inet_ntop formats IPv4 with sprintf: about a thousand instructions a line.
    for (std::size_t i = 0; i < 4; ++i) {
      if (i != 0) out += '.';
      append_decimal(out, client.bytes[i]);
    }
    return true;
  }
  if (client.family != AF_INET6) return false;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(client.family, client.bytes.data(), text.data(), text.size()) == nullptr)
    return false;
  out += text.data();
  return true;
}

std::optional<std::string> address_text(const ClientAddress& client) {
  std::string out;
  if (!append_address(out, client)) return std::nullopt;
  return out;
}

void append_duration_seconds(std::string& out, std::uint64_t duration_ns) {
  append_decimal(out, duration_ns / kNsPerSecond);
  out += '.';
  append_zero_padded(out, microseconds_past_second(duration_ns), kMicrosecondDigits);
}

// An empty unquoted field would shift the ones after it: "-" instead.
void append_text_or_dash(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += '-';
  } else {
    append_text_escaped(out, value, true);
  }
}

void append_optional_quoted(std::string& out, const std::optional<std::string_view>& value) {
  if (!value) {
    out += '-';
    return;
  }
  out += '"';
  append_text_escaped(out, *value, false);
  out += '"';
}

void append_json_optional(std::string& out, const std::optional<std::string_view>& value) {
  if (value) {
    append_json_string(out, *value);
  } else {
    out += "null"sv;
  }
}

}  // namespace

ClientAddress client_address_of(const sockaddr* address) {
  ClientAddress client;
  client.family = address->sa_family;
  if (address->sa_family == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(address);
    std::memcpy(client.bytes.data(), &in4->sin_addr, sizeof(in4->sin_addr));
    client.port = ntohs(in4->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    std::memcpy(client.bytes.data(), &in6->sin6_addr, sizeof(in6->sin6_addr));
    client.port = ntohs(in6->sin6_port);
  }
  return client;
}

// Bytes that need no escape are appended a run at a time.
void append_text_escaped(std::string& out, std::string_view bytes, bool escape_space) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    const auto byte = static_cast<unsigned char>(c);
    const bool plain =
        (byte > 0x20 && byte < 0x7f && c != '"' && c != '\\') || (byte == 0x20 && !escape_space);
    if (plain) continue;
    out.append(bytes.substr(run, i - run));
    run = i + 1;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      append_hex_byte(out, "\\x", byte);
    }
  }
  out.append(bytes.substr(run));
}

// Printable ASCII and valid UTF-8 sequences are appended a run at a time.
void append_json_string(std::string& out, std::string_view bytes) {
  out += '"';
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
      ++i;
      continue;
    }
    const std::size_t sequence = byte >= 0x80 ? utf8_sequence(bytes.substr(i)) : 0;
    if (sequence != 0) {
      i += sequence;
      continue;
    }
    out.append(bytes.substr(run, i - run));
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x80) {
      append_json_control(out, byte);
    } else {
      out += "\\ufffd"sv;
    }
    run = ++i;
  }
  out.append(bytes.substr(run));
  out += '"';
}

// A thread's lines come mostly within the same second as the line before:
// gmtime_r and the date's formatting run once per second it logs, and each
// line appends the cached "YYYY-MM-DDTHH:MM:SS." and its microseconds.
void append_rfc3339(std::string& out, std::int64_t time_ns) {
  assert(time_ns >= 0);  // CLOCK_REALTIME, after 1970
  struct FormattedSecond {
    std::int64_t second = -1;
    std::string text;
  };
  thread_local FormattedSecond cached;
  const std::int64_t second = time_ns / kNsPerSecond;
  if (second != cached.second) {
    const std::time_t seconds = second;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    cached.text =
        fmt::format(FMT_COMPILE("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}."), utc.tm_year + 1900,
                    utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    cached.second = second;
  }
  out += cached.text;
  append_zero_padded(out, microseconds_past_second(static_cast<std::uint64_t>(time_ns)),
                     kMicrosecondDigits);
  out += 'Z';
}

void append_text_line(std::string& out, const AccessRecord& record, bool with_time) {
  if (with_time) {
    append_rfc3339(out, record.time_ns);
    out += ' ';
  }
  if (append_address(out, record.client)) {
    out += ' ';
    append_decimal(out, record.client.port);
  } else {
    out += "unix -"sv;
  }
  out += " \""sv;
  append_text_or_dash(out, record.method);
  out += ' ';
  append_text_or_dash(out, record.target);
  out += ' ';
  append_http_version(out, record);
  out += "\" "sv;
  append_decimal(out, record.status);
  out += ' ';
  append_decimal(out, record.bytes_sent);
  out += ' ';
  append_duration_seconds(out, record.duration_ns);
  out += ' ';
  append_text_or_dash(out, record.route);
  out += ' ';
  append_optional_quoted(out, record.user_agent);
  out += ' ';
  append_optional_quoted(out, record.referer);
  out += '\n';
}

void append_json_line(std::string& out, const AccessRecord& record) {
  out += "{\"time\":\""sv;
  append_rfc3339(out, record.time_ns);
  // An address is digits, dots, hex and colons: nothing a JSON string escapes.
  out += "\",\"client_address\":\""sv;
  if (append_address(out, record.client)) {
    out += "\",\"client_port\":"sv;
    append_decimal(out, record.client.port);
  } else {
    out += "unix\",\"client_port\":null"sv;
  }
  out += ",\"method\":"sv;
  append_json_optional(
      out, record.method.empty() ? std::nullopt : std::optional<std::string_view>(record.method));
  out += ",\"target\":"sv;
  append_json_string(out, record.target);
  out += ",\"http_version\":\""sv;
  append_http_version(out, record);  // "HTTP/1.1" or "-": nothing to escape
  out += "\",\"status\":"sv;
  append_decimal(out, record.status);
  out += ",\"bytes_sent\":"sv;
  append_decimal(out, record.bytes_sent);
  out += ",\"duration_seconds\":"sv;
  append_duration_seconds(out, record.duration_ns);
  out += ",\"route\":"sv;
  append_json_string(out, record.route);
  out += ",\"user_agent\":"sv;
  append_json_optional(out, record.user_agent);
  out += ",\"referer\":"sv;
  append_json_optional(out, record.referer);
  out += "}\n"sv;
}

std::vector<std::string> journal_fields(const AccessRecord& record) {
  std::string message;
  if (record.format == AccessLogFormat::json) {
    append_json_line(message, record);
  } else {
    append_text_line(message, record, false);
  }
  message.pop_back();  // the newline
  const auto escaped = [](std::string_view bytes) {
    std::string out;
    append_text_escaped(out, bytes, false);
    return out;
  };
  std::vector<std::string> fields{
      "MESSAGE=" + message,
      "PRIORITY=6",  // LOG_INFO
      "SYSLOG_IDENTIFIER=hellod",
      "MESSAGE_ID=" + std::string(kAccessMessageId),
      "HTTP_METHOD=" + escaped(record.method),
      "HTTP_TARGET=" + escaped(record.target),
      "HTTP_VERSION=" + http_version(record),
      fmt::format(FMT_COMPILE("HTTP_STATUS={}"), record.status),
      "HTTP_ROUTE=" + escaped(record.route),
      fmt::format(FMT_COMPILE("BYTES_SENT={}"), record.bytes_sent),
      fmt::format(FMT_COMPILE("DURATION_USEC={}"), record.duration_ns / kNsPerMicrosecond)};
  const auto address = address_text(record.client);
  fields.push_back("CLIENT_ADDRESS=" + address.value_or("unix"));
  if (address) fields.push_back(fmt::format(FMT_COMPILE("CLIENT_PORT={}"), record.client.port));
  if (record.user_agent) fields.push_back("HTTP_USER_AGENT=" + escaped(*record.user_agent));
  if (record.referer) fields.push_back("HTTP_REFERER=" + escaped(*record.referer));
  return fields;
}

}  // namespace hellod
