// SPDX-License-Identifier: MIT
#include "response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config.hpp"
#include "http_date.hpp"

namespace hellod {
namespace {

// RFC 9110 §5.6.7's example, then the epoch: two dates of the same length.
const HttpDate kDate = format_http_date(784111777);
const HttpDate kLaterDate = format_http_date(0);
constexpr std::string_view kDateLine = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
constexpr std::string_view kLaterDateLine = "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n";

std::string wire(const ResponseBytes& bytes) {
  return std::string(bytes.head) + std::string(bytes.body);
}

ResponseSpec spec_of(const ResponseConfig& config) {
  return ResponseSpec{config.status, config.content_type, config.body, config.headers};
}

std::string default_head(std::string_view date_line, std::string_view connection_line) {
  return std::string("HTTP/1.1 200 OK\r\nServer: hellod\r\n") + std::string(date_line) +
         "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n" +
         std::string(connection_line) + "\r\n";
}

TEST(ResponseTest, DefaultConfigExactBytesInEveryVariant) {
  const Response response(spec_of(Config{}.response), kDate);
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(wire(response.bytes(ConnectionHeader::none, false)),
            default_head(kDateLine, "") + "Hello, World!\n");
  EXPECT_EQ(wire(response.bytes(ConnectionHeader::close, false)),
            default_head(kDateLine, "Connection: close\r\n") + "Hello, World!\n");
  EXPECT_EQ(wire(response.bytes(ConnectionHeader::keep_alive, false)),
            default_head(kDateLine, "Connection: keep-alive\r\n") + "Hello, World!\n");
}

TEST(ResponseTest, HeadIsTheSameHeadWithoutBody) {
  const Response response(spec_of(Config{}.response), kDate);
  for (const ConnectionHeader connection :
       {ConnectionHeader::none, ConnectionHeader::close, ConnectionHeader::keep_alive}) {
    const std::string get = wire(response.bytes(connection, false));
    const ResponseBytes head = response.bytes(connection, true);
    EXPECT_EQ(head.head, get.substr(0, get.size() - 14));
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.size(), get.size() - 14);
    // RFC 9110 §9.3.2: the Content-Length a GET would get.
    EXPECT_NE(head.head.find("Content-Length: 14\r\n"), std::string_view::npos);
  }
}

TEST(ResponseTest, ExtraHeadersInConfiguredOrderBeforeConnection) {
  ResponseSpec spec{
      201, "application/json", "{}", {{"X-Zeta", "1"}, {"Cache-Control", "no-store"}}};
  const Response response(spec, kDate);
  EXPECT_EQ(wire(response.bytes(ConnectionHeader::close, false)),
            std::string("HTTP/1.1 201 Created\r\nServer: hellod\r\n") + std::string(kDateLine) +
                "Content-Type: application/json\r\nContent-Length: 2\r\n"
                "X-Zeta: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{}");
}

TEST(ResponseTest, EmptyBodyHasContentLengthZero) {
  const Response response(ResponseSpec{200, "text/plain", "", {}}, kDate);
  const ResponseBytes bytes = response.bytes(ConnectionHeader::none, false);
  EXPECT_NE(bytes.head.find("\r\nContent-Length: 0\r\n"), std::string_view::npos);
  EXPECT_TRUE(bytes.body.empty());
}

// RFC 9110 §15.3.5 and §15.4.5: 204 and 304 end after their headers.
TEST(ResponseTest, NoContentAndNotModifiedHaveNoBodyNorContentLength) {
  for (const int status : {204, 304}) {
    const Response response(ResponseSpec{status, "text/plain", "ignored body", {}}, kDate);
    for (const ConnectionHeader connection :
         {ConnectionHeader::none, ConnectionHeader::close, ConnectionHeader::keep_alive}) {
      for (const bool head : {false, true}) {
        const ResponseBytes bytes = response.bytes(connection, head);
        EXPECT_TRUE(bytes.body.empty()) << status;
        EXPECT_EQ(bytes.head.find("Content-Length"), std::string_view::npos) << status;
        EXPECT_TRUE(bytes.head.ends_with("\r\n\r\n"));
      }
    }
  }
  const Response no_content(ResponseSpec{204, "text/plain", "x", {}}, kDate);
  EXPECT_EQ(wire(no_content.bytes(ConnectionHeader::none, false)),
            std::string("HTTP/1.1 204 No Content\r\nServer: hellod\r\n") + std::string(kDateLine) +
                "Content-Type: text/plain\r\n\r\n");
}

TEST(ResponseTest, SetDateRewritesEveryVariant) {
  ResponseSpec spec{200, "text/plain", "body", {{"X-A", "b"}}};
  Response response(spec, kDate);
  const std::string before = wire(response.bytes(ConnectionHeader::close, false));
  response.set_date(kLaterDate);
  for (const ConnectionHeader connection :
       {ConnectionHeader::none, ConnectionHeader::close, ConnectionHeader::keep_alive}) {
    for (const bool head : {false, true}) {
      const std::string_view bytes = response.bytes(connection, head).head;
      EXPECT_NE(bytes.find(kLaterDateLine), std::string_view::npos) << bytes;
      EXPECT_EQ(bytes.find(kDateLine), std::string_view::npos) << bytes;
    }
  }
  std::string expected = before;
  expected.replace(expected.find(kDateLine), kDateLine.size(), kLaterDateLine);
  EXPECT_EQ(wire(response.bytes(ConnectionHeader::close, false)), expected);
}

TEST(ResponseTest, VariantsShareOneBody) {
  const Response response(ResponseSpec{200, "text/plain", std::string(100'000, 'x'), {}}, kDate);
  const ResponseBytes none = response.bytes(ConnectionHeader::none, false);
  const ResponseBytes close = response.bytes(ConnectionHeader::close, false);
  EXPECT_EQ(none.body.size(), 100'000U);
  EXPECT_EQ(none.body.data(), close.body.data());
  EXPECT_NE(none.head.find("Content-Length: 100000\r\n"), std::string_view::npos);
}

// A small body goes out in the same buffer as its head: one iovec, and
// send(2) instead of sendmsg(2) for a lone response (OutputBatch).
TEST(ResponseTest, SmallBodyComesWithItsHeadInOneBuffer) {
  for (const std::size_t size : {std::size_t{1}, std::size_t{1024}}) {
    const Response response(ResponseSpec{200, "text/plain", std::string(size, 'x'), {}}, kDate);
    const ResponseBytes get = response.bytes(ConnectionHeader::keep_alive, false);
    EXPECT_TRUE(get.body.empty()) << size;
    EXPECT_EQ(get.body_owner, nullptr) << size;
    EXPECT_EQ(get.head.substr(get.head.size() - size), std::string(size, 'x')) << size;
  }
  const Response large(ResponseSpec{200, "text/plain", std::string(1025, 'x'), {}}, kDate);
  EXPECT_EQ(large.bytes(ConnectionHeader::keep_alive, false).body.size(), 1025U);
}

TEST(ResponseTest, StatusWithoutReasonPhraseKeepsTheSpace) {
  // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
  const Response response(ResponseSpec{299, "text/plain", "", {}}, kDate);
  EXPECT_TRUE(response.bytes(ConnectionHeader::none, false).head.starts_with("HTTP/1.1 299 \r\n"));
}

TEST(ResponseTest, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(201), "Created");
  EXPECT_EQ(reason_phrase(204), "No Content");
  EXPECT_EQ(reason_phrase(301), "Moved Permanently");
  EXPECT_EQ(reason_phrase(302), "Found");
  EXPECT_EQ(reason_phrase(304), "Not Modified");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(403), "Forbidden");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(429), "Too Many Requests");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(299), "");
  EXPECT_EQ(reason_phrase(599), "");
}

TEST(ResponseSetTest, ForErrorMapsEveryParserStatus) {
  const ResponseSet set(Config{}.response, kDate);
  EXPECT_EQ(set.configured.status(), 200);
  for (const int status : {400, 413, 414, 417, 431, 501, 505}) {
    EXPECT_EQ(set.for_error(status).status(), status);
  }
  EXPECT_EQ(set.for_error(0).status(), 400);
  EXPECT_EQ(set.for_error(404).status(), 400);
}

TEST(ResponseSetTest, ErrorResponsesAreCompleteAndClose) {
  const ResponseSet set(Config{}.response, kDate);
  EXPECT_EQ(wire(set.for_error(431).bytes(ConnectionHeader::close, false)),
            std::string("HTTP/1.1 431 Request Header Fields Too Large\r\nServer: hellod\r\n") +
                std::string(kDateLine) +
                "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\n"
                "Connection: close\r\n\r\nRequest Header Fields Too Large\n");
}

TEST(ResponseSetTest, ConfiguredHeadersDoNotLeakIntoErrors) {
  ResponseConfig config;
  config.headers = {{"X-Custom", "yes"}};
  const ResponseSet set(config, kDate);
  EXPECT_NE(set.configured.bytes(ConnectionHeader::none, false).head.find("X-Custom: yes\r\n"),
            std::string_view::npos);
  for (const Response& error : set.errors) {
    EXPECT_EQ(error.bytes(ConnectionHeader::close, false).head.find("X-Custom"),
              std::string_view::npos);
  }
}

TEST(ResponseSetTest, SetDateRewritesEveryResponse) {
  ResponseSet set(Config{}.response, kDate);
  set.set_date(kLaterDate);
  EXPECT_NE(set.configured.bytes(ConnectionHeader::close, false).head.find(kLaterDateLine),
            std::string_view::npos);
  EXPECT_NE(set.service_unavailable.bytes(ConnectionHeader::close, false).head.find(kLaterDateLine),
            std::string_view::npos);
  for (const Response& error : set.errors) {
    const std::string_view head = error.bytes(ConnectionHeader::close, false).head;
    EXPECT_NE(head.find(kLaterDateLine), std::string_view::npos) << head;
  }
}

Config config_with_routes() {
  Config config;
  RouteConfig health;
  health.match.path_kind = RouteMatch::PathKind::exact;
  health.match.path = "/healthz";
  health.response.body = "ok\n";
  RouteConfig gone;
  gone.response.status = 410;
  gone.response.headers = {{"X-Route", "gone"}};
  config.routes = {health, gone};
  return config;
}

TEST(ResponseSetTest, OneResponsePerRouteInOrder) {
  const ResponseSet set(config_with_routes(), kDate);
  ASSERT_EQ(set.routes.size(), 2U);
  EXPECT_EQ(wire(set.for_route(0).bytes(ConnectionHeader::none, false)),
            std::string("HTTP/1.1 200 OK\r\nServer: hellod\r\n") + std::string(kDateLine) +
                "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nok\n");
  EXPECT_EQ(set.for_route(1).status(), 410);
  EXPECT_NE(set.for_route(1).bytes(ConnectionHeader::close, true).head.find("X-Route: gone\r\n"),
            std::string_view::npos);
  // RouteTable::kNoRoute, or any index past the routes: the top-level response.
  EXPECT_EQ(&set.for_route(2), &set.configured);
  EXPECT_EQ(&set.for_route(static_cast<std::size_t>(-1)), &set.configured);
  EXPECT_TRUE(ResponseSet(Config{}, kDate).routes.empty());
}

TEST(ResponseSetTest, DrainingHealthResponseIs503AndCloses) {
  const ResponseSet set(config_with_routes(), kDate);
  EXPECT_EQ(wire(set.service_unavailable.bytes(ConnectionHeader::close, false)),
            std::string("HTTP/1.1 503 Service Unavailable\r\nServer: hellod\r\n") +
                std::string(kDateLine) +
                "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n"
                "Connection: close\r\n\r\nService Unavailable\n");
}

TEST(ResponseSetTest, SetDateRewritesEveryRoute) {
  ResponseSet set(config_with_routes(), kDate);
  set.set_date(kLaterDate);
  for (const Response& route : set.routes) {
    const std::string_view head = route.bytes(ConnectionHeader::none, false).head;
    EXPECT_NE(head.find(kLaterDateLine), std::string_view::npos) << head;
  }
}

}  // namespace
}  // namespace hellod
