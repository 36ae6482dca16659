#include "reply.hpp"

#include <string_view>

namespace hellod {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

Reply answer(const ParseEvent& event, const ReplyContext& context, const ResponseSet& responses) {
  // RFC 9112 §9.6: the last response on a connection says Connection: close.
  const bool last =
      !event.keep_alive || context.requests >= context.keepalive_requests || context.draining;
  ConnectionHeader connection = ConnectionHeader::none;
  if (last) {
    connection = ConnectionHeader::close;
  } else if (event.http10) {
    connection = ConnectionHeader::keep_alive;  // RFC 9112 §9.3: 1.0 persistence is opt-in
  }
  const Response& response = responses.configured;
  return Reply{response.bytes(connection, event.head), response.status(), connection, last};
}

}  // namespace

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
