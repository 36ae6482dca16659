// SPDX-License-Identifier: MIT
#include "http_date.hpp"

namespace hellod {
namespace {

constexpr std::array<std::string_view, 7> kDayNames{"Sun", "Mon", "Tue", "Wed",
                                                    "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonthNames{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void put_two_digits(char* out, int value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

void put_name(char* out, std::string_view name) {
  for (std::size_t i = 0; i < 3; ++i) out[i] = name[i];
}

}  // namespace

HttpDate format_http_date(std::time_t when) {
  std::tm utc{};
  gmtime_r(&when, &utc);
  // Laid out by hand: strftime depends on the locale, and %a/%b must be the
  // English names RFC 9110 requires.
  HttpDate out{};
  std::string_view pattern = "Ddd, 00 Mmm 0000 00:00:00 GMT";
  for (std::size_t i = 0; i < kHttpDateLength; ++i) out[i] = pattern[i];
  put_name(&out[0], kDayNames[static_cast<std::size_t>(utc.tm_wday)]);
  put_two_digits(&out[5], utc.tm_mday);
  put_name(&out[8], kMonthNames[static_cast<std::size_t>(utc.tm_mon)]);
  const int year = utc.tm_year + 1900;
  put_two_digits(&out[12], year / 100);
  put_two_digits(&out[14], year % 100);
  put_two_digits(&out[17], utc.tm_hour);
  put_two_digits(&out[20], utc.tm_min);
  put_two_digits(&out[23], utc.tm_sec);
  return out;
}

}  // namespace hellod
