// SPDX-License-Identifier: MIT
#include "config_values.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <system_error>
#include <vector>

namespace hellod {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";
constexpr std::string_view kAddressForms =
    R"(expected "host:port", "[v6addr]:port" or "unix:/path")";
// sun_path must hold the path and its terminating NUL.
constexpr std::size_t kUnixPathCapacity = sizeof(sockaddr_un{}.sun_path);

struct DurationUnit {
  std::string_view suffix;
  std::uint64_t milliseconds;
};
// "ms" must be tried before "s" and "m", which it ends with or starts with.
constexpr std::array kDurationUnits{DurationUnit{"ms", 1}, DurationUnit{"s", 1000},
                                    DurationUnit{"m", 60'000}, DurationUnit{"h", 3'600'000}};
// Twelve digits times the largest unit (1h = 3.6e6 ms) still fits in 64 bits.
constexpr std::size_t kMaxDurationDigits = 12;

constexpr std::array<std::string_view, 7> kLogLevelNames{"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};
constexpr std::array<std::string_view, 3> kLogTargetNames{"auto", "stderr", "journal"};

// Headers hellod writes itself: letting the file set them would produce
// duplicate or contradictory fields (RFC 9110 §8.6, RFC 9112 §6.1).
constexpr std::array<std::string_view, 6> kOwnedHeaders{
    "Content-Length", "Date", "Connection", "Transfer-Encoding", "Content-Type", "Server"};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// tchar from RFC 9110 §5.6.2: the characters a token (and so a field name,
// §5.1) may contain.
bool is_tchar(char c) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         kSymbols.find(c) != std::string_view::npos;
}

// An exact decimal "12.345": all digits as one integer plus the power of ten
// to divide by, so "0.001" seconds becomes exactly 1 ms (strtod would not).
struct Decimal {
  std::uint64_t mantissa = 0;
  std::uint64_t scale = 1;
};

std::optional<Decimal> parse_decimal(std::string_view text) {
  const auto digits = static_cast<std::size_t>(std::count_if(text.begin(), text.end(), is_digit));
  if (text.empty() || !is_digit(text.front()) || !is_digit(text.back()) ||
      digits > kMaxDurationDigits) {
    return std::nullopt;
  }
  Decimal decimal;
  bool after_dot = false;
  for (const char c : text) {
    if (c == '.' && !after_dot) {
      after_dot = true;
      continue;
    }
    if (!is_digit(c)) return std::nullopt;
    decimal.mantissa = decimal.mantissa * 10 + static_cast<std::uint64_t>(c - '0');
    if (after_dot) decimal.scale *= 10;
  }
  return decimal;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  const auto value = parse_integer(text);
  if (!value || *value < 0 || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

Error port_error(std::string_view port) {
  return Error{"expected a port 0..65535, got " + quote(port)};
}

// The canonical spelling of a numeric address, so that "::0:1" and "::1"
// are recognised as the same listener.
std::optional<std::string> canonical_ip(int family, const std::string& host) {
  std::array<unsigned char, sizeof(in6_addr)> binary{};
  if (inet_pton(family, host.c_str(), binary.data()) != 1) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(family, binary.data(), text.data(), INET6_ADDRSTRLEN) == nullptr) {
    return std::nullopt;
  }
  return std::string(text.data());
}

Result<ListenAddress> parse_unix(std::string_view text) {
  const std::string_view path = text.substr(kUnixPrefix.size());
  if (path.empty() || path.front() != '/') {
    return Error{"a unix socket path must be absolute, got " + quote(text)};
  }
  if (path.size() >= kUnixPathCapacity) {
    return Error{"a unix socket path must be shorter than " + std::to_string(kUnixPathCapacity) +
                 " bytes, got " + std::to_string(path.size())};
  }
  return ListenAddress{ListenAddress::Kind::unix_path, {}, 0, std::string(path)};
}

Result<ListenAddress> parse_tcp6(std::string_view text) {
  const auto close = text.find("]:");
  if (close == std::string_view::npos) {
    return Error{std::string(kAddressForms) + ", got " + quote(text)};
  }
  const auto host = canonical_ip(AF_INET6, std::string(text.substr(1, close - 1)));
  if (!host) return Error{"expected a numeric IPv6 address in brackets, got " + quote(text)};
  const std::string_view port_text = text.substr(close + 2);
  const auto port = parse_port(port_text);
  if (!port) return port_error(port_text);
  return ListenAddress{ListenAddress::Kind::tcp6, *host, *port, {}};
}

Result<ListenAddress> parse_tcp4(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Error{std::string(kAddressForms) + ", got " + quote(text)};
  }
  const std::string host(text.substr(0, colon));
  if (host.find(':') != std::string::npos) {
    return Error{R"(an IPv6 address needs brackets, e.g. "[::1]:8080", got )" + quote(text)};
  }
  const auto canonical = canonical_ip(AF_INET, host);
  if (!canonical) {
    return Error{"expected a numeric IPv4 address (host names are not resolved), got " +
                 quote(text)};
  }
  const std::string_view port_text = text.substr(colon + 1);
  const auto port = parse_port(port_text);
  if (!port) return port_error(port_text);
  return ListenAddress{ListenAddress::Kind::tcp4, *canonical, *port, {}};
}

template <typename Enum, std::size_t N>
std::optional<Enum> parse_enum(std::string_view text,
                               const std::array<std::string_view, N>& names) {
  const auto* found = std::find(names.begin(), names.end(), text);
  if (found == names.end()) return std::nullopt;
  return static_cast<Enum>(found - names.begin());
}

void append_escaped(std::string& out, char c) {
  constexpr std::string_view kHex = "0123456789abcdef";
  const auto byte = static_cast<unsigned char>(c);
  if (c == '"' || c == '\\') {
    out += '\\';
    out += c;
  } else if (c == '\n') {
    out += "\\n";
  } else if (c == '\r') {
    out += "\\r";
  } else if (c == '\t') {
    out += "\\t";
  } else if (byte < 0x20 || byte == 0x7f) {
    out += "\\x";
    out += kHex[byte >> 4U];
    out += kHex[byte & 0xfU];
  } else {
    out += c;
  }
}

}  // namespace

std::string ListenAddress::to_string() const {
  switch (kind) {
    case Kind::tcp4:
      return host + ":" + std::to_string(port);
    case Kind::tcp6:
      return "[" + host + "]:" + std::to_string(port);
    case Kind::unix_path:
      return std::string(kUnixPrefix) + path;
  }
  return {};
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text, bool allow_zero) {
  std::string_view number = text;
  std::uint64_t unit_ms = 1000;  // A bare number counts seconds.
  for (const auto& unit : kDurationUnits) {
    if (text.ends_with(unit.suffix)) {
      number = text.substr(0, text.size() - unit.suffix.size());
      unit_ms = unit.milliseconds;
      break;
    }
  }
  const auto decimal = parse_decimal(number);
  if (!decimal) {
    return Error{R"(expected a duration such as "250ms", "10s", "2m", "1h" or a number of )"
                 "seconds, got " +
                 quote(text)};
  }
  const std::uint64_t scaled = decimal->mantissa * unit_ms;
  if (scaled % decimal->scale != 0) {
    return Error{"must be a whole number of milliseconds, got " + quote(text)};
  }
  const std::uint64_t ms = scaled / decimal->scale;
  if ((ms == 0 && !allow_zero) || ms > static_cast<std::uint64_t>(kMaxTimeout.count())) {
    return Error{
        std::string(allow_zero ? "must be at most 24h" : "must be more than 0 and at most 24h") +
        ", got " + quote(text)};
  }
  return std::chrono::milliseconds{static_cast<std::int64_t>(ms)};
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  // inet_pton() stops at a NUL, which would silently drop the rest.
  if (text.find('\0') != std::string_view::npos) {
    return Error{std::string(kAddressForms) + ", got " + quote(text)};
  }
  if (text.starts_with(kUnixPrefix)) return parse_unix(text);
  if (text.starts_with('[')) return parse_tcp6(text);
  return parse_tcp4(text);
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  return parse_enum<LogLevel>(text, kLogLevelNames);
}

std::optional<LogTarget> parse_log_target(std::string_view text) {
  return parse_enum<LogTarget>(text, kLogTargetNames);
}

std::optional<AccessLogFormat> parse_access_log_format(std::string_view text) {
  if (const auto on = parse_bool(text)) return *on ? AccessLogFormat::text : AccessLogFormat::off;
  if (text == "text") return AccessLogFormat::text;
  if (text == "json") return AccessLogFormat::json;
  return std::nullopt;
}

std::optional<std::string> metrics_path_problem(std::string_view text) {
  if (text.empty() || text.front() != '/') return "must start with \"/\", got " + quote(text);
  // RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
  constexpr std::string_view kPathSymbols = "-._~%!$&'()*+,;=:@/";
  const bool valid = std::all_of(text.begin(), text.end(), [&](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kPathSymbols.find(c) != std::string_view::npos;
  });
  if (!valid) {
    return "expected a path of letters, digits and -._~%!$&'()*+,;=:@/ (no query), got " +
           quote(text);
  }
  return std::nullopt;
}

bool addresses_overlap(const ListenAddress& a, const ListenAddress& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == ListenAddress::Kind::unix_path) return a.path == b.path;
  // Port 0 asks the kernel for a free port: two of them never collide.
  if (a.port != b.port || a.port == 0) return false;
  const auto wildcard = [](const ListenAddress& address) {
    return address.host == "0.0.0.0" || address.host == "::";
  };
  return a.host == b.host || wildcard(a) || wildcard(b);
}

std::optional<std::string> header_name_problem(std::string_view name) {
  if (!is_token(name)) {
    return "not a valid header name: RFC 9110 §5.1 allows only token characters "
           "(letters, digits and !#$%&'*+-.^_`|~)";
  }
  if (iequals(name, "Content-Type")) {
    return std::string("hellod sets Content-Type itself; use response.content_type");
  }
  const auto* owned = std::find_if(kOwnedHeaders.begin(), kOwnedHeaders.end(),
                                   [&](std::string_view h) { return iequals(h, name); });
  if (owned != kOwnedHeaders.end()) {
    return "hellod sets " + std::string(*owned) + " itself; it cannot be configured";
  }
  return std::nullopt;
}

std::optional<std::string> field_value_problem(std::string_view value) {
  // RFC 9110 §5.5: CR, LF and NUL are invalid and dangerous in field values;
  // written into a response they would let the file inject headers.
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return std::string("must not contain CR, LF or NUL (RFC 9110 §5.5)");
  }
  const bool has_control = std::any_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
  });
  if (has_control) return std::string("must not contain control characters (RFC 9110 §5.5)");
  // §5.5: leading and trailing whitespace is not part of a field value, so a
  // peer would see a different value than the one configured.
  if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                         value.back() == '\t')) {
    return std::string("must not start or end with whitespace (RFC 9110 §5.5)");
  }
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return to_lower(x) == to_lower(y);
         });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions, the
  // most common typo ("stauts" is one edit from "status").
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) &&
          to_lower(a[i - 2]) == to_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string_view> nearest_name(std::string_view name,
                                             std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 0;
  for (const std::string_view candidate : candidates) {
    const std::size_t distance = edit_distance(name, candidate);
    // About one edit in three: close enough to be a typo, far enough that
    // unrelated short names are not suggested.
    const std::size_t allowed =
        std::max<std::size_t>(1, std::max(name.size(), candidate.size()) / 3);
    if (distance <= allowed && (!best || distance < best_distance)) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string escape_controls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      append_escaped(out, c);
    } else {
      out += c;
    }
  }
  return out;
}

std::string quote(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "\"";
  for (const char c : text.substr(0, kMaxShown)) append_escaped(out, c);
  if (text.size() > kMaxShown) out += "...";
  return out + "\"";
}

}  // namespace hellod
