#pragma once

// What the request parser copies for the access log (the target and the
// first User-Agent and Referer), only while log.access is on. Included by
// request_parser.cpp alone: RequestParser::Captured is its private type.

#include <cstddef>
#include <string>
#include <string_view>

#include "request_parser.hpp"

namespace hellod {
namespace capture {

constexpr std::string_view kUserAgentName = "user-agent";
constexpr std::string_view kRefererName = "referer";
// A field name longer than the longest one captured cannot match.
constexpr std::size_t kLongestCapturedName = kUserAgentName.size();

inline bool equals_folded(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] | 0x20) : text[i];
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace capture

// What the access log takes from a request, kept only while it is on; the
// strings keep their capacity, so steady-state capture allocates nothing.
struct RequestParser::Captured {
  enum class Into : unsigned char { none, user_agent, referer };
  std::string target;
  std::string field;  // the current field name, up to capture::kLongestCapturedName + 1 bytes
  std::string user_agent;
  std::string referer;
  bool has_user_agent = false;
  bool has_referer = false;
  Into into = Into::none;

  void clear() {
    target.clear();
    field.clear();
    user_agent.clear();
    referer.clear();
    has_user_agent = has_referer = false;
    into = Into::none;
  }
  void on_field(std::string_view chunk) {
    if (field.size() <= capture::kLongestCapturedName)
      field.append(chunk.substr(0, capture::kLongestCapturedName + 1 - field.size()));
  }
  // The first User-Agent and the first Referer are kept.
  void on_field_complete() {
    into = Into::none;
    if (!has_user_agent && capture::equals_folded(field, capture::kUserAgentName)) {
      has_user_agent = true;
      into = Into::user_agent;
    } else if (!has_referer && capture::equals_folded(field, capture::kRefererName)) {
      has_referer = true;
      into = Into::referer;
    }
    field.clear();
  }
  void on_value(std::string_view chunk) {
    if (into == Into::user_agent) user_agent.append(chunk);
    if (into == Into::referer) referer.append(chunk);
  }
};

}  // namespace hellod
