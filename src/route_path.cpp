// SPDX-License-Identifier: MIT
#include "route_path.hpp"

#include <algorithm>
#include <cassert>

namespace hellod {
namespace {

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_scheme(std::string_view text) {
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  return !text.empty() && alpha(text.front()) && std::all_of(text.begin(), text.end(), [&](char c) {
    return alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

// What follows "scheme://" in an absolute-form target, or nothing.
std::optional<std::string_view> after_scheme(std::string_view target) {
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || !is_scheme(target.substr(0, scheme_end))) {
    return std::nullopt;
  }
  return target.substr(scheme_end + 3);
}

// "/a/b?x" -> "/a/b": RFC 3986 §3.3, the path ends at "?" or "#". A plain
// loop: find_first_of() with a two-character set costs a memchr() per byte.
std::string_view before_query(std::string_view path) noexcept {
  std::size_t end = 0;
  while (end < path.size() && path[end] != '?' && path[end] != '#') ++end;
  return path.substr(0, end);
}

}  // namespace

std::uint64_t path_hash(std::string_view path) noexcept {
  std::uint64_t hash = kPathHashBasis;
  for (const char c : path) hash = path_hash_step(hash, c);
  return path_hash_end(hash);
}

std::string_view request_path(std::string_view target) noexcept {
  return route_path(target).path;
}

std::string_view non_origin_path(std::string_view target) noexcept {
  assert(!target.starts_with('/'));  // route_path() handles the origin form
  if (target == "*") return target;
  const auto after = after_scheme(target);
  if (!after) return {};
  const std::string_view rest = *after;
  const auto path_start = rest.find_first_of("/?#");
  if (path_start == std::string_view::npos || rest[path_start] != '/') return "/";
  return before_query(rest.substr(path_start));
}

std::optional<std::string_view> request_authority(std::string_view target) noexcept {
  if (target.starts_with('/')) return std::nullopt;
  const auto after = after_scheme(target);
  if (!after) return std::nullopt;
  std::string_view authority = after->substr(0, after->find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return authority;
}

}  // namespace hellod
