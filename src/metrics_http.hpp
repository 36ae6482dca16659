// SPDX-License-Identifier: MIT
#pragma once

// What the metrics listener answers, as pure functions: which of its three
// answers a request gets, and the bytes of a response. The listener itself
// (metrics_listener.hpp) only moves bytes.

#include <functional>
#include <string>
#include <string_view>

namespace hellod {

enum class MetricsAnswer : unsigned char {
  exposition,          // GET or HEAD of metrics.path: 200 with the exposition
  not_found,           // any other path: 404 (never the configured response)
  method_not_allowed,  // another method on metrics.path: 405 with Allow (RFC 9110 §15.5.6)
};

// The path of a request target: origin-form "/metrics?x=1" and absolute-form
// "http://host:9464/metrics" (RFC 9112 §3.2) both give "/metrics".
std::string_view target_path(std::string_view target);

MetricsAnswer choose_metrics_answer(std::string_view method, std::string_view target,
                                    std::string_view path);

struct MetricsReply {
  int status = 200;
  std::string bytes;  // head and body
};

// The whole response for one request. render is called only for the
// exposition (HEAD too, for its Content-Length). close: say Connection:
// close; keep_alive_10: an HTTP/1.0 client asked to keep the connection.
MetricsReply metrics_reply(MetricsAnswer answer, bool head, bool close, bool keep_alive_10,
                           const std::function<std::string()>& render);

// A response for a request the parser refused (400, 413, 431, ...), which
// closes the connection.
std::string metrics_error_reply(int status);

}  // namespace hellod
