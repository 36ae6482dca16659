// SPDX-License-Identifier: MIT
#include "reply.hpp"

#include <optional>
#include <string_view>

namespace hellod {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

Reply answer(const ParseEvent& event, const ReplyContext& context, const ResponseSet& responses) {
  // RFC 9112 §9.6: the last response on a connection says Connection: close.
  // The health route fails during the drain: it says close, so a balancer's
  // next check needs a new connection and sees the drain end (RFC 9112 §9.6).
  const bool last = !event.keep_alive || context.requests >= context.keepalive_requests ||
                    context.draining || context.health_failing;
  ConnectionHeader connection = ConnectionHeader::none;
  if (last) {
    connection = ConnectionHeader::close;
  } else if (event.http10) {
    connection = ConnectionHeader::keep_alive;  // RFC 9112 §9.3: 1.0 persistence is opt-in
  }
  const Response& response =
      context.health_failing ? responses.service_unavailable : responses.for_route(context.route);
  return Reply{response.bytes(connection, event.head), response.status(), connection, last,
               context.route};
}

}  // namespace

std::size_t route_of(const RouteTable& routes, const RequestParser& parser) {
  if (routes.size() == 0) return RouteTable::kNoRoute;
  const std::string_view target = parser.captured(Field::target);
  if (!routes.uses_host()) return routes.match(parser.method_number(), route_path(target), {});
  // RFC 9112 §3.3: an absolute-form target names the host itself.
  const std::optional<std::string_view> authority = request_authority(target);
  return routes.match(parser.method_number(), route_path(target),
                      authority ? *authority : parser.captured(Field::host));
}

Reply reply_for(const ParseEvent& event, const ReplyContext& context,
                const ResponseSet& responses) {
  switch (event.kind) {
    case ParseEvent::Kind::error: {
      const Response& response = responses.for_error(event.error_status);
      return Reply{response.bytes(ConnectionHeader::close, false), response.status(),
                   ConnectionHeader::close, true};
    }
    case ParseEvent::Kind::send_continue:
      // RFC 9110 §10.1.1: an interim response; the request goes on.
      return Reply{ResponseBytes{kContinue, {}}, 100, ConnectionHeader::none, false};
    case ParseEvent::Kind::request:
    case ParseEvent::Kind::need_more:
      break;
  }
  return answer(event, context, responses);
}

}  // namespace hellod
