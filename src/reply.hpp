#pragma once

#include <cstdint>

#include "request_parser.hpp"
#include "response.hpp"

namespace hellod {

// What the connection's state says about the reply to the next event.
struct ReplyContext {
  std::uint32_t requests = 0;            // requests answered on the connection, this one included
  std::uint32_t keepalive_requests = 0;  // limits.keepalive_requests
  bool draining = false;                 // the worker is shutting down
};

// The bytes a connection sends for one parse event, and whether it closes
// after them. Pure: the connection and the request fuzzer both decide
// through it, so the fuzzer exercises exactly what the event loop does.
struct Reply {
  ResponseBytes bytes;
  int status = 0;
  ConnectionHeader connection = ConnectionHeader::none;
  bool close_after = false;
};

// Precondition: event.kind is request, error or send_continue.
Reply reply_for(const ParseEvent& event, const ReplyContext& context, const ResponseSet& responses);

}  // namespace hellod
