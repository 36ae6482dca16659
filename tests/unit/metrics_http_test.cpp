// SPDX-License-Identifier: MIT
// The metrics listener's answers (pure) and the socket-activation split.
#include "metrics_http.hpp"

#include <gtest/gtest.h>

#include "metrics_exposition.hpp"
#include "metrics_listener.hpp"

namespace hellod {
namespace {

std::string render() {
  return "hellod_workers 1\n";
}

TEST(MetricsHttp, TargetPath) {
  EXPECT_EQ(target_path("/metrics"), "/metrics");
  EXPECT_EQ(target_path("/metrics?name[]=x"), "/metrics");
  EXPECT_EQ(target_path("/metrics#frag"), "/metrics");
  EXPECT_EQ(target_path("http://127.0.0.1:9464/metrics?x"), "/metrics");
  EXPECT_EQ(target_path("http://host"), "/");
  EXPECT_EQ(target_path("*"), "*");
  EXPECT_EQ(target_path("/a/http://b/metrics"), "/a/http://b/metrics");
}

TEST(MetricsHttp, ChoosesTheAnswer) {
  EXPECT_EQ(choose_metrics_answer("GET", "/metrics", "/metrics"), MetricsAnswer::exposition);
  EXPECT_EQ(choose_metrics_answer("HEAD", "/metrics?x=1", "/metrics"), MetricsAnswer::exposition);
  EXPECT_EQ(choose_metrics_answer("GET", "/", "/metrics"), MetricsAnswer::not_found);
  EXPECT_EQ(choose_metrics_answer("GET", "/metrics/", "/metrics"), MetricsAnswer::not_found);
  EXPECT_EQ(choose_metrics_answer("GET", "/Metrics", "/metrics"), MetricsAnswer::not_found);
  EXPECT_EQ(choose_metrics_answer("POST", "/metrics", "/metrics"),
            MetricsAnswer::method_not_allowed);
  EXPECT_EQ(choose_metrics_answer("DELETE", "/other", "/metrics"), MetricsAnswer::not_found);
  EXPECT_EQ(choose_metrics_answer("GET", "/x", "/x"), MetricsAnswer::exposition);
}

TEST(MetricsHttp, ExpositionReply) {
  const MetricsReply reply = metrics_reply(MetricsAnswer::exposition, false, false, false, render);
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.bytes.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(reply.bytes.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(reply.bytes.find("\r\nContent-Length: 17\r\n"), std::string::npos);
  EXPECT_NE(reply.bytes.find("\r\nDate: "), std::string::npos);
  EXPECT_EQ(reply.bytes.find("Connection:"), std::string::npos);
  EXPECT_TRUE(reply.bytes.ends_with("\r\n\r\nhellod_workers 1\n"));
}

TEST(MetricsHttp, HeadHasTheLengthButNoBody) {
  const MetricsReply reply = metrics_reply(MetricsAnswer::exposition, true, true, false, render);
  EXPECT_NE(reply.bytes.find("\r\nContent-Length: 17\r\n"), std::string::npos);
  EXPECT_NE(reply.bytes.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(reply.bytes.ends_with("\r\n\r\n"));
}

TEST(MetricsHttp, NotFoundAndMethodNotAllowedNeverRender) {
  const auto never = []() -> std::string {
    ADD_FAILURE() << "rendered";
    return {};
  };
  const MetricsReply missing = metrics_reply(MetricsAnswer::not_found, false, false, true, never);
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.bytes.starts_with("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_NE(missing.bytes.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  const MetricsReply method =
      metrics_reply(MetricsAnswer::method_not_allowed, false, false, false, never);
  EXPECT_EQ(method.status, 405);
  EXPECT_NE(method.bytes.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
}

TEST(MetricsHttp, ErrorReplyCloses) {
  const std::string reply = metrics_error_reply(431);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_NE(reply.find("\r\nConnection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace hellod
