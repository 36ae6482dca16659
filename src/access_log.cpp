// SPDX-License-Identifier: MIT
#include "access_log.hpp"

#include <arpa/inet.h>
#include <fmt/compile.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <cstring>
#include <ctime>
#include <iterator>

namespace hellod {
namespace {

constexpr std::string_view kHex = "0123456789abcdef";
constexpr std::int64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint64_t kNsPerMicrosecond = 1000;

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
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("HTTP/{}.{}"), record.http_major,
                 record.http_minor);
}

std::string http_version(const AccessRecord& record) {
  std::string out;
  append_http_version(out, record);
  return out;
}

// The numeric address, or nothing for a unix-socket client.
std::optional<std::string> address_text(const ClientAddress& client) {
  if (client.family == AF_INET) {
    // inet_ntop formats IPv4 with sprintf: about a thousand instructions a line.
    const auto& bytes = client.bytes;
    return fmt::format(FMT_COMPILE("{}.{}.{}.{}"), bytes[0], bytes[1], bytes[2], bytes[3]);
  }
  if (client.family != AF_INET6) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(client.family, client.bytes.data(), text.data(), text.size()) == nullptr)
    return std::nullopt;
  return std::string(text.data());
}

void append_duration_seconds(std::string& out, std::uint64_t duration_ns) {
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}.{:06}"), duration_ns / kNsPerSecond,
                 (duration_ns % kNsPerSecond) / kNsPerMicrosecond);
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
    out += "null";
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

void append_text_escaped(std::string& out, std::string_view bytes, bool escape_space) {
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if ((byte > 0x20 && byte < 0x7f) || (byte == 0x20 && !escape_space)) {
      out += c;
    } else {
      append_hex_byte(out, "\\x", byte);
    }
  }
}

void append_json_string(std::string& out, std::string_view bytes) {
  out += '"';
  while (!bytes.empty()) {
    const auto byte = static_cast<unsigned char>(bytes.front());
    std::size_t used = 1;
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x20 || byte == 0x7f) {
      append_json_control(out, byte);
    } else if (byte < 0x80) {
      out += static_cast<char>(byte);
    } else {
      used = utf8_sequence(bytes);
      if (used != 0) {
        out.append(bytes.substr(0, used));
      } else {
        used = 1;
        out += "\\ufffd";
      }
    }
    bytes.remove_prefix(used);
  }
  out += '"';
}

void append_rfc3339(std::string& out, std::int64_t time_ns) {
  const std::time_t seconds = time_ns / kNsPerSecond;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z"),
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, (time_ns % kNsPerSecond) / 1000);
}

void append_text_line(std::string& out, const AccessRecord& record, bool with_time) {
  if (with_time) {
    append_rfc3339(out, record.time_ns);
    out += ' ';
  }
  if (const auto address = address_text(record.client)) {
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{} {}"), *address, record.client.port);
  } else {
    out += "unix -";
  }
  out += " \"";
  append_text_or_dash(out, record.method);
  out += ' ';
  append_text_or_dash(out, record.target);
  out += ' ';
  append_http_version(out, record);
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("\" {} {} "), record.status,
                 record.bytes_sent);
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
  out += "{\"time\":\"";
  append_rfc3339(out, record.time_ns);
  out += "\",\"client_address\":";
  const auto address = address_text(record.client);
  append_json_string(out, address ? std::string_view(*address) : std::string_view("unix"));
  out += ",\"client_port\":";
  out += address ? std::to_string(record.client.port) : "null";
  out += ",\"method\":";
  append_json_optional(
      out, record.method.empty() ? std::nullopt : std::optional<std::string_view>(record.method));
  out += ",\"target\":";
  append_json_string(out, record.target);
  out += ",\"http_version\":";
  append_json_string(out, http_version(record));
  fmt::format_to(std::back_inserter(out),
                 FMT_COMPILE(",\"status\":{},\"bytes_sent\":{},\"duration_seconds\":"),
                 record.status, record.bytes_sent);
  append_duration_seconds(out, record.duration_ns);
  out += ",\"route\":";
  append_json_string(out, record.route);
  out += ",\"user_agent\":";
  append_json_optional(out, record.user_agent);
  out += ",\"referer\":";
  append_json_optional(out, record.referer);
  out += "}\n";
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
