// SPDX-License-Identifier: MIT
#include "route_match.hpp"

#include <arpa/inet.h>
#include <llhttp.h>

#include <algorithm>
#include <array>

#include "config_values.hpp"

namespace hellod {
namespace {

// Every method llhttp parses in a request (its HTTP_METHOD_MAP). It answers
// any other method with 400 before a route is looked at, so a route listing
// one could never match; PRI is HTTP/2's preface, not a request.
#define HELLOD_METHOD_NAME(number, name, text) #text,
constexpr std::array kKnownMethods{HTTP_METHOD_MAP(HELLOD_METHOD_NAME)};
#undef HELLOD_METHOD_NAME

constexpr std::size_t kMaxHostLength = 253;  // RFC 1035 §2.3.4, without the trailing dot

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// a is lower-case already; b is compared as if it were.
bool equals_lowered(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return x == lower(y); });
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::optional<std::string> ipv6_literal_problem(std::string_view pattern) {
  const auto close = pattern.find(']');
  if (close != std::string_view::npos && close + 1 < pattern.size()) {
    return std::string("a host pattern has no port: the Host header is compared without its port");
  }
  std::array<unsigned char, 16> address{};
  const std::string inside(pattern.substr(1, close == std::string_view::npos ? 0 : close - 1));
  if (close == std::string_view::npos || inet_pton(AF_INET6, inside.c_str(), address.data()) != 1) {
    return "expected an IPv6 address in brackets such as \"[::1]\", got " + quote(pattern);
  }
  return std::nullopt;
}

std::optional<std::string> labels_problem(std::string_view name) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty())
      return std::string("a host name has no empty labels (\"..\" or a leading \".\")");
    if (!std::all_of(label.begin(), label.end(), is_host_char)) {
      return "not a host name: " + quote(name) +
             " (letters, digits, \"-\", \"_\" and \".\"; write an internationalised name in its "
             "xn-- form)";
    }
    if (dot == name.size()) return std::nullopt;
    start = dot + 1;
  }
}

}  // namespace

HostPattern::HostPattern(std::string_view pattern) {
  if (pattern.empty()) return;
  if (pattern.starts_with("*.")) {
    kind_ = Kind::subdomains;
    text_ = lower_case(pattern.substr(1));
  } else {
    kind_ = Kind::exact;
    text_ = lower_case(pattern);
  }
}

bool HostPattern::matches(std::string_view host) const noexcept {
  switch (kind_) {
    case Kind::any:
      return true;
    case Kind::exact:
      return equals_lowered(text_, host);
    case Kind::subdomains:
      // "*.example.com" needs at least one more label: "a.example.com", not
      // "example.com" nor ".example.com".
      return host.size() > text_.size() &&
             equals_lowered(text_, host.substr(host.size() - text_.size()));
  }
  return false;
}

bool HostPattern::covers(const HostPattern& other) const noexcept {
  if (kind_ == Kind::any) return true;
  if (other.kind_ == Kind::any) return false;
  if (kind_ == Kind::exact) return other.kind_ == Kind::exact && other.text_ == text_;
  // "*.example.com" covers "a.example.com", "*.b.example.com" and itself.
  return other.kind_ == Kind::exact ? matches(other.text_) : other.text_.ends_with(text_);
}

std::string_view host_for_matching(std::string_view host) noexcept {
  const auto first = host.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  host = host.substr(first, host.find_last_not_of(" \t") - first + 1);
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  host = host.substr(0, host.find(':'));
  if (host.ends_with('.')) host.remove_suffix(1);
  return host;
}

bool method_matches(const std::vector<std::string>& methods, std::string_view method) noexcept {
  return methods.empty() || std::find(methods.begin(), methods.end(), method) != methods.end();
}

bool covers(const RouteMatch& earlier, const RouteMatch& later) {
  using Kind = RouteMatch::PathKind;
  bool path_covered = false;
  switch (earlier.path_kind) {
    case Kind::any:
      path_covered = true;
      break;
    case Kind::exact:
      path_covered = later.path_kind == Kind::exact && later.path == earlier.path;
      break;
    case Kind::prefix:
      // A prefix never covers "any path": OPTIONS * and CONNECT have no path.
      path_covered = later.path_kind != Kind::any && later.path.starts_with(earlier.path);
      break;
  }
  const bool methods_covered =
      earlier.methods.empty() ||
      (!later.methods.empty() &&
       std::all_of(later.methods.begin(), later.methods.end(),
                   [&](const std::string& m) { return method_matches(earlier.methods, m); }));
  return path_covered && methods_covered &&
         HostPattern(earlier.host).covers(HostPattern(later.host));
}

std::optional<std::string> route_path_problem(std::string_view path) {
  if (path == "*") {
    return std::string(
        "\"*\" is not a path: OPTIONS * requests match the routes that have neither path nor "
        "prefix");
  }
  if (!path.starts_with('/')) {
    return "must start with \"/\" (the path of a request target, RFC 9112 §3.2), got " +
           quote(path);
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return std::string(
        "must not contain \"?\" or \"#\": a route matches the path before the query");
  }
  const bool visible = std::all_of(path.begin(), path.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (!visible) {
    return std::string(
        "must hold only visible ASCII characters, as a request target does (RFC 9112 §3.2); "
        "percent-encode other bytes as clients send them, e.g. /caf%C3%A9");
  }
  return std::nullopt;
}

std::optional<std::string> host_pattern_problem(std::string_view pattern) {
  if (pattern.empty() || pattern == "*") {
    return std::string(
        "omit host to match every host; a pattern such as \"*.example.com\" "
        "matches the subdomains of a domain");
  }
  if (pattern.size() > kMaxHostLength) return std::string("longer than 253 characters");
  if (pattern.starts_with('[')) return ipv6_literal_problem(pattern);
  if (pattern.find(':') != std::string_view::npos) {
    return std::string("a host pattern has no port: the Host header is compared without its port");
  }
  const std::string_view name = pattern.starts_with("*.") ? pattern.substr(2) : pattern;
  if (name.find('*') != std::string_view::npos) {
    return std::string("\"*\" may only stand alone as the first label, as in \"*.example.com\"");
  }
  if (name.ends_with('.')) {
    return std::string("must not end with \".\" (a trailing dot in the Host header is ignored)");
  }
  return labels_problem(name);
}

std::optional<std::string> method_problem(std::string_view method) {
  if (!is_token(method)) {
    return "not a method: RFC 9110 §9.1 methods are tokens (letters, digits and "
           "!#$%&'*+-.^_`|~), got " +
           quote(method);
  }
  const auto known = [](std::string_view m) {
    return std::find(kKnownMethods.begin(), kKnownMethods.end(), m) != kKnownMethods.end();
  };
  if (known(method)) return std::nullopt;
  std::string upper(method);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  });
  if (known(upper)) {
    return "methods are case-sensitive (RFC 9110 §9.1): " + quote(method) + " never arrives, " +
           quote(upper) + " does";
  }
  std::string list;
  for (const std::string_view m : kKnownMethods) list.append(list.empty() ? "" : ", ").append(m);
  return quote(method) + " can never match: hellod's HTTP parser (llhttp) answers any method " +
         "but these with 400: " + list;
}

std::string lower_case(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

}  // namespace hellod
