// What RequestParser copies for the access log: target, the first
// User-Agent and the first Referer, however the bytes are split.
#include <gtest/gtest.h>

#include <string>

#include "request_parser.hpp"

namespace hellod {
namespace {

struct Captured {
  std::string target;
  std::optional<std::string> user_agent;
  std::optional<std::string> referer;
};

// Feeds the request in two pieces split at `split`; returns what was
// captured once the request completed.
Captured feed_split(std::string_view request, std::size_t split) {
  RequestParser parser;
  parser.set_capture_target(true);
  const RequestLimits limits;
  std::string_view rest = request;
  std::string_view piece = rest.substr(0, split);
  for (int round = 0; round < 2; ++round) {
    while (!piece.empty()) {
      const ParseEvent event = parser.feed(piece, limits);
      piece.remove_prefix(event.consumed);
      if (event.kind == ParseEvent::Kind::request) {
        Captured out{std::string(parser.target()), {}, {}};
        if (auto ua = parser.user_agent()) out.user_agent = std::string(*ua);
        if (auto referer = parser.referer()) out.referer = std::string(*referer);
        return out;
      }
      EXPECT_EQ(event.kind, ParseEvent::Kind::need_more);
      if (event.kind != ParseEvent::Kind::need_more) return {};
      if (event.consumed == 0) break;
    }
    piece = rest.substr(split);
  }
  ADD_FAILURE() << "no request at split " << split;
  return {};
}

TEST(RequestCapture, TargetUserAgentAndRefererAtEverySplit) {
  const std::string request =
      "GET /p?q=\"1\" HTTP/1.1\r\nHost: x\r\nuser-AGENT: agent/1.0 (x; y)\r\n"
      "Referer: http://r/\xff\r\nUser-Agent: second\r\nReferer: second\r\n\r\n";
  for (std::size_t split = 0; split <= request.size(); ++split) {
    const Captured c = feed_split(request, split);
    EXPECT_EQ(c.target, "/p?q=\"1\"") << split;
    EXPECT_EQ(c.user_agent, "agent/1.0 (x; y)") << split;  // the first of each
    EXPECT_EQ(c.referer, "http://r/\xff") << split;
  }
}

TEST(RequestCapture, AbsentAndEmptyHeaders) {
  const Captured absent = feed_split("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 5);
  EXPECT_FALSE(absent.user_agent);
  EXPECT_FALSE(absent.referer);
  const Captured empty = feed_split("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent:\r\n\r\n", 5);
  EXPECT_EQ(empty.user_agent, "");
  // Names that only start like the captured ones are not them.
  const Captured longer =
      feed_split("GET / HTTP/1.1\r\nHost: x\r\nUser-Agents: no\r\nReferer-X: no\r\n\r\n", 9);
  EXPECT_FALSE(longer.user_agent);
  EXPECT_FALSE(longer.referer);
}

TEST(RequestCapture, EachRequestStartsAfresh) {
  RequestParser parser;
  parser.set_capture_target(true);
  const RequestLimits limits;
  const std::string two =
      "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: one\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string_view data = two;
  ParseEvent event = parser.feed(data, limits);
  ASSERT_EQ(event.kind, ParseEvent::Kind::request);
  EXPECT_EQ(parser.user_agent(), "one");
  data.remove_prefix(event.consumed);
  event = parser.feed(data, limits);
  ASSERT_EQ(event.kind, ParseEvent::Kind::request);
  EXPECT_EQ(parser.target(), "/b");
  EXPECT_FALSE(parser.user_agent());
}

TEST(RequestCapture, NothingWhileOff) {
  RequestParser parser;
  const RequestLimits limits;
  const ParseEvent event =
      parser.feed("GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: one\r\n\r\n", limits);
  ASSERT_EQ(event.kind, ParseEvent::Kind::request);
  EXPECT_EQ(parser.target(), "");
  EXPECT_FALSE(parser.user_agent());
}

}  // namespace
}  // namespace hellod
