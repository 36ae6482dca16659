// SPDX-License-Identifier: MIT
#include "http_date.hpp"

#include <gtest/gtest.h>

#include <array>
#include <ctime>
#include <string>

namespace hellod {
namespace {

std::string formatted(std::time_t when) {
  return std::string(to_view(format_http_date(when)));
}

TEST(HttpDateTest, Epoch) {
  EXPECT_EQ(formatted(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

// The example of RFC 9110 §5.6.7.
TEST(HttpDateTest, RfcExample) {
  EXPECT_EQ(formatted(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HttpDateTest, LeapDays) {
  EXPECT_EQ(formatted(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(formatted(1709208000), "Thu, 29 Feb 2024 12:00:00 GMT");
}

TEST(HttpDateTest, PastThe32BitRollover) {
  EXPECT_EQ(formatted(2147483647), "Tue, 19 Jan 2038 03:14:07 GMT");
  EXPECT_EQ(formatted(2147483648), "Tue, 19 Jan 2038 03:14:08 GMT");
  EXPECT_EQ(formatted(4102444800), "Fri, 01 Jan 2100 00:00:00 GMT");
  EXPECT_EQ(formatted(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(HttpDateTest, AlwaysTwentyNineBytes) {
  EXPECT_EQ(kHttpDateLength, 29U);
  EXPECT_EQ(to_view(format_http_date(1700000000)).size(), 29U);
}

// Cross-checks the hand-written layout against strftime in the C locale
// (whose %a and %b are the English names) over a century of instants.
TEST(HttpDateTest, MatchesStrftimeInCLocale) {
  constexpr std::time_t kStep = 86'400 * 7 + 3'661;  // a week, an hour, a minute, a second
  for (std::time_t when = 0; when < 4'102'444'800; when += kStep) {
    std::tm utc{};
    gmtime_r(&when, &utc);
    std::array<char, 64> expected{};
    const std::size_t length =
        std::strftime(expected.data(), expected.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    ASSERT_EQ(formatted(when), std::string(expected.data(), length)) << "at " << when;
  }
}

}  // namespace
}  // namespace hellod
