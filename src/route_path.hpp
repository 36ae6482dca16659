// SPDX-License-Identifier: MIT
#pragma once

// The path and host a request is routed by, taken from its target without
// copying, and what the exact-path table looks the path up with: its hash
// and a byte comparison, both inline on the request path.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace hellod {

// The path a route compares, taken from a request target without copying
// (RFC 9112 §3.2): origin-form "/a/b?x" -> "/a/b"; absolute-form
// "http://h/a?b" -> "/a" ("http://h" -> "/", RFC 9110 §4.2.3);
// asterisk-form "*" -> "*"; authority-form "h:443" (CONNECT) and anything
// else -> "". The path is not decoded or normalised: routes compare bytes.
std::string_view request_path(std::string_view target) noexcept;
std::string_view non_origin_path(std::string_view target) noexcept;

// FNV-1a, the hash exact paths are looked up by: a few instructions per
// byte, and request paths are short. Bit k of its product depends only on
// bits 0..k of each byte, so the top half is folded into the bottom one,
// where table slots are taken from.
inline constexpr std::uint64_t kPathHashBasis = 14695981039346656037ULL;
constexpr std::uint64_t path_hash_step(std::uint64_t hash, char byte) noexcept {
  return (hash ^ static_cast<unsigned char>(byte)) * 1099511628211ULL;
}
constexpr std::uint64_t path_hash_end(std::uint64_t hash) noexcept {
  return hash ^ (hash >> 32U);
}
std::uint64_t path_hash(std::string_view path) noexcept;

// request_path() of a target and its path_hash().
struct RoutePath {
  std::string_view path;
  std::uint64_t hash = 0;
};
// Inline for the origin form, nearly every request: one pass to "?" or "#"
// (RFC 3986 §3.3) finds the path's end and hashes it, where a call, a
// bounds-checked substr() and a second loop cost more than the path.
inline RoutePath route_path(std::string_view target) noexcept {
  if (target.empty() || target.front() != '/') {
    const std::string_view path = non_origin_path(target);
    return {path, path_hash(path)};
  }
  const char* const begin = target.data();
  const char* const end = begin + target.size();
  std::uint64_t hash = kPathHashBasis;
  const char* stop = begin;
  for (; stop != end && *stop != '?' && *stop != '#'; ++stop) hash = path_hash_step(hash, *stop);
  return {{begin, static_cast<std::size_t>(stop - begin)}, path_hash_end(hash)};
}

// Equal views, for a path whose hash matched: inline, where a memcmp() call
// costs more than a short path. Words at a time, and a size that is not a
// multiple of one is finished by a last word (or half, quarter) that overlaps
// the one before, as memcmp() does.
template <typename Word>
bool same_word(const char* a, const char* b) noexcept {
  Word word_a = 0;
  Word word_b = 0;
  std::memcpy(&word_a, a, sizeof word_a);
  std::memcpy(&word_b, b, sizeof word_b);
  return word_a == word_b;
}
inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  const std::size_t size = a.size();
  if (size >= 8) {
    for (std::size_t at = 0; at + 8 < size; at += 8) {
      if (!same_word<std::uint64_t>(a.data() + at, b.data() + at)) return false;
    }
    return same_word<std::uint64_t>(a.data() + size - 8, b.data() + size - 8);
  }
  if (size >= 4) {
    return same_word<std::uint32_t>(a.data(), b.data()) &&
           same_word<std::uint32_t>(a.data() + size - 4, b.data() + size - 4);
  }
  if (size >= 2) {
    return same_word<std::uint16_t>(a.data(), b.data()) &&
           same_word<std::uint16_t>(a.data() + size - 2, b.data() + size - 2);
  }
  return size == 0 || a.front() == b.front();
}

// The authority of an absolute-form target without its userinfo
// ("http://u@h:8080/a" -> "h:8080"), or nothing for any other form. RFC 9112
// §3.3: such a target is the target URI, so its authority names the host a
// route compares, not the Host header (which §3.2.2 says to ignore).
std::optional<std::string_view> request_authority(std::string_view target) noexcept;

}  // namespace hellod
