// SPDX-License-Identifier: MIT
#pragma once

// One access-log record and its three renderings: a text line, a JSON
// object, and journal fields. Pure functions (each thread keeps the date of
// the second it last formatted): the logger thread (access_logger.hpp)
// calls them, the unit tests feed them hostile bytes.
//
// Whatever bytes a client sent, the text line stays one line of printable
// ASCII, and the JSON line is valid JSON (RFC 8259) that any parser reads:
//  - text: bytes outside 0x20..0x7e, and '"' and '\', are written \xHH, \"
//    and \\ (as nginx does); a space is \x20 in the fields that are not
//    quoted (target, route).
//  - json: '"', '\' and control characters are JSON escapes (\n, \u0001,
//    ...; DEL is \u007f); valid UTF-8 is kept; every byte that is not part
//    of a valid UTF-8 sequence becomes U+FFFD (\ufffd), as Go's
//    encoding/json and zap do. The text format keeps such bytes exactly.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace hellod {

// The client's address as the kernel gave it, formatted only by the logger.
struct ClientAddress {
  sa_family_t family = AF_UNSPEC;  // AF_INET, AF_INET6, or AF_UNIX / AF_UNSPEC: no address
  std::uint16_t port = 0;
  std::array<unsigned char, 16> bytes{};
};

// From getpeername()'s result.
ClientAddress client_address_of(const sockaddr* address);

// One answered request. The views point at the caller's bytes (the parser,
// the queue); the record itself owns nothing.
struct AccessRecord {
  std::int64_t time_ns = 0;       // CLOCK_REALTIME when the response was produced
  std::uint64_t duration_ns = 0;  // end of the request head to the response
  std::uint64_t bytes_sent = 0;
  std::uint16_t status = 0;
  std::uint8_t http_major = 0;  // 0.0 when the request line was unreadable
  std::uint8_t http_minor = 0;
  AccessLogFormat format = AccessLogFormat::text;
  ClientAddress client;
  std::string_view method;
  std::string_view target;
  std::string_view route;
  std::optional<std::string_view> user_agent;  // nothing: no such header
  std::optional<std::string_view> referer;
};

// Journal records of requests carry this MESSAGE_ID, so
// `journalctl MESSAGE_ID=...` selects access records (sd-id128(3)).
inline constexpr std::string_view kAccessMessageId = "af470a4e8d4d452ab39e54a48587d925";

// "2024-05-01T12:00:00.123456Z": RFC 3339, UTC, microseconds.
void append_rfc3339(std::string& out, std::int64_t time_ns);

// time address port "METHOD TARGET VERSION" status bytes duration route "UA" "Referer"\n
// (an absent header, an empty method, target or route, and an unknown
// version are a bare -; a unix-socket client is "unix -").
void append_text_line(std::string& out, const AccessRecord& record, bool with_time = true);

// {"time":...,"client_address":...,...}\n, one object a line; an absent
// header and the unknown method of a rejected request are null.
void append_json_line(std::string& out, const AccessRecord& record);

// The record as journal fields ("HTTP_STATUS=200", ...), MESSAGE being the
// line in the record's format without the time (the journal has its own).
std::vector<std::string> journal_fields(const AccessRecord& record);

// The escapes above, exposed for tests.
void append_text_escaped(std::string& out, std::string_view bytes, bool escape_space);
void append_json_string(std::string& out, std::string_view bytes);

}  // namespace hellod
