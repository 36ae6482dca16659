// SPDX-License-Identifier: MIT
#include "metrics_http.hpp"

#include <fmt/format.h>

#include <ctime>

#include "http_date.hpp"
#include "metrics_exposition.hpp"
#include "response.hpp"

namespace hellod {
namespace {

struct Head {
  int status;
  std::string_view content_type;
  std::size_t content_length;
  bool close;
  bool keep_alive_10;
  bool allow;  // 405: say which methods the resource has
};

std::string render_head(const Head& head) {
  const HttpDate date = format_http_date(std::time(nullptr));
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\n",
      head.status, reason_phrase(head.status), std::string_view(date.data(), date.size()),
      head.content_type, head.content_length);
  if (head.allow) out += "Allow: GET, HEAD\r\n";
  if (head.close) {
    out += "Connection: close\r\n";
  } else if (head.keep_alive_10) {
    out += "Connection: keep-alive\r\n";  // RFC 9112 §9.3: 1.0 persistence is opt-in
  }
  out += "\r\n";
  return out;
}

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

}  // namespace

std::string_view target_path(std::string_view target) {
  const auto scheme = target.find("://");
  if (!target.starts_with('/') && scheme != std::string_view::npos) {
    const auto slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find_first_of("?#"));
}

MetricsAnswer choose_metrics_answer(std::string_view method, std::string_view target,
                                    std::string_view path) {
  if (target_path(target) != path) return MetricsAnswer::not_found;
  if (method == "GET" || method == "HEAD") return MetricsAnswer::exposition;
  return MetricsAnswer::method_not_allowed;
}

MetricsReply metrics_reply(MetricsAnswer answer, bool head, bool close, bool keep_alive_10,
                           const std::function<std::string()>& render) {
  MetricsReply reply;
  std::string body;
  std::string_view type = kPlainText;
  switch (answer) {
    case MetricsAnswer::exposition:
      body = render();
      type = kExpositionContentType;
      break;
    case MetricsAnswer::not_found:
      reply.status = 404;
      body = "Not Found: this listener serves only the metrics path\n";
      break;
    case MetricsAnswer::method_not_allowed:
      reply.status = 405;
      body = "Method Not Allowed\n";
      break;
  }
  reply.bytes = render_head(Head{reply.status, type, body.size(), close, keep_alive_10,
                                 answer == MetricsAnswer::method_not_allowed});
  if (!head) reply.bytes += body;
  return reply;
}

std::string metrics_error_reply(int status) {
  const std::string body = fmt::format("{} {}\n", status, reason_phrase(status));
  return render_head(Head{status, kPlainText, body.size(), true, false, false}) + body;
}

}  // namespace hellod
