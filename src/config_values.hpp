// SPDX-License-Identifier: MIT
#pragma once

// Pure text parsers for configuration values. Nothing here knows YAML, so
// each rule can be unit-tested (and fuzzed) on plain strings; config.cpp
// adds the file, line, column and key path to the messages returned here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config.hpp"
#include "result.hpp"

namespace hellod {

// The largest response body hellod serves; it is held in memory per worker.
inline constexpr std::size_t kMaxBodyBytes = std::size_t{64} << 20;
inline constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours{24};

// A decimal integer and nothing else ("8080", "-3"); no signs other than a
// leading '-', no hex, no separators.
std::optional<std::int64_t> parse_integer(std::string_view text);

// YAML 1.2 core schema booleans only: true/True/TRUE and false/False/FALSE.
std::optional<bool> parse_bool(std::string_view text);

// "250ms", "10s", "2m", "1h" or a bare number of seconds ("1.5"); the result
// must be a whole number of milliseconds in (0, 24h], or [0, 24h] with
// allow_zero (for settings where 0 means "off").
Result<std::chrono::milliseconds> parse_duration(std::string_view text, bool allow_zero = false);

// "host:port" (numeric IPv4), "[v6addr]:port" (numeric IPv6) or
// "unix:/absolute/path". Hosts are stored in canonical inet_ntop form.
Result<ListenAddress> parse_listen_address(std::string_view text);

std::optional<LogLevel> parse_log_level(std::string_view text);
std::optional<LogTarget> parse_log_target(std::string_view text);
// log.access: the booleans of parse_bool (true means text), "text" or "json".
std::optional<AccessLogFormat> parse_access_log_format(std::string_view text);

// Why text cannot be metrics.path, or nothing if it can: an absolute path
// of RFC 3986 path characters, without query or fragment.
std::optional<std::string> metrics_path_problem(std::string_view text);

// True when binding both would conflict: the same unix path, or the same
// non-zero TCP port in one family on the same host or a wildcard (0.0.0.0,
// ::). IPv6 sockets are IPv6-only, so [::] does not cover IPv4.
bool addresses_overlap(const ListenAddress& a, const ListenAddress& b);

// Why a configured header name cannot be used, or nothing if it can.
std::optional<std::string> header_name_problem(std::string_view name);
// Why text cannot be sent as a header field value, or nothing if it can.
std::optional<std::string> field_value_problem(std::string_view value);

// An RFC 9110 §5.6.2 token: one or more tchar.
bool is_token(std::string_view text);

bool iequals(std::string_view a, std::string_view b);
// Optimal string alignment distance, ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate close enough to `name` to be what the user meant, if any.
std::optional<std::string_view> nearest_name(std::string_view name,
                                             std::span<const std::string_view> candidates);

// `text` in double quotes, escaped and shortened so that any message that
// quotes user input stays on one line.
std::string quote(std::string_view text);

// The text with control characters written as escapes (\r, \n, \x01...), so
// an error message stays one printable line whatever the file holds.
std::string escape_controls(std::string_view text);

}  // namespace hellod
