// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>

#include "request_parser.hpp"
#include "response.hpp"
#include "route_table.hpp"

namespace hellod {

// What the connection's state says about the reply to the next event.
struct ReplyContext {
  std::uint32_t requests = 0;            // requests answered on the connection, this one included
  std::uint32_t keepalive_requests = 0;  // limits.keepalive_requests
  bool draining = false;                 // the worker is shutting down
  std::size_t route = RouteTable::kNoRoute;  // route_of() the request
  bool health_failing = false;               // the route is a health route in its drain period
};

// The bytes a connection sends for one parse event, and whether it closes
// after them. Pure: the connection and the request fuzzer both decide
// through it, so the fuzzer exercises exactly what the event loop does.
struct Reply {
  ResponseBytes bytes;
  int status = 0;
  ConnectionHeader connection = ConnectionHeader::none;
  bool close_after = false;
  std::size_t route = RouteTable::kNoRoute;  // which route answered, for metrics and logs
};

// Which route answers the request the parser just completed; the parser must
// have collected the fields Snapshot::captures names.
std::size_t route_of(const RouteTable& routes, const RequestParser& parser);

// Precondition: event.kind is request, error or send_continue.
Reply reply_for(const ParseEvent& event, const ReplyContext& context, const ResponseSet& responses);

}  // namespace hellod
