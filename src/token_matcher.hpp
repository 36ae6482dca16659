// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hellod {

// Compares a token that llhttp hands over in pieces (a span callback may fire
// several times per token) with a lowercase literal, ignoring ASCII case and,
// for field values, trailing blanks (RFC 9110 §5.5: OWS is not part of a
// value). Nothing is copied: it remembers only how much matched.
class TokenMatcher {
 public:
  void reset() {
    matched_ = 0;
    mismatch_ = false;
    blanks_ = false;
  }

  void feed(std::string_view piece, std::string_view literal) {
    for (const char c : piece) {
      if (mismatch_) return;
      if (c == ' ' || c == '\t') {
        blanks_ = matched_ > 0;  // blanks may end a value, never sit inside it
        mismatch_ = matched_ == 0;
        continue;
      }
      if (blanks_ || matched_ >= literal.size() || fold_case(c) != literal[matched_]) {
        mismatch_ = true;
        return;
      }
      ++matched_;
    }
  }

  // Only for names, which have no blanks: whole pieces fail fast on length,
  // and a name that arrives in one piece (nearly always) is one comparison.
  void feed_name(std::string_view piece, std::string_view literal) {
    if (mismatch_ || matched_ + piece.size() > literal.size()) {
      mismatch_ = true;
      return;
    }
    for (std::size_t i = 0; i < piece.size(); ++i) {
      if (fold_case(piece[i]) != literal[matched_ + i]) {
        mismatch_ = true;
        return;
      }
    }
    matched_ = static_cast<std::uint8_t>(matched_ + piece.size());
  }

  [[nodiscard]] bool matches(std::string_view literal) const {
    return !mismatch_ && matched_ == literal.size();
  }
  [[nodiscard]] bool empty() const { return !mismatch_ && matched_ == 0; }

 private:
  // Setting bit 5 lowercases an ASCII letter; for the letters, digits and
  // '-' of the literals matched here, only the same character in either case
  // then compares equal.
  static char fold_case(char c) { return static_cast<char>(c | 0x20); }

  std::uint8_t matched_ = 0;
  bool mismatch_ = false;
  bool blanks_ = false;
};

}  // namespace hellod
