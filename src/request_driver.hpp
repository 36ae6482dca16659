// SPDX-License-Identifier: MIT
#pragma once

#include <cassert>
#include <cstddef>
#include <string_view>

#include "request_parser.hpp"

namespace hellod {

// Drives the parser over one read: every event but need_more goes to
// on_event in order, which returns whether to parse on (false once the
// connection ends or must stop reading). Returns how many bytes were used;
// the rest is the caller's to keep or drop. The connection, the request
// fuzzer and the unit tests all parse through this one loop.
template <typename OnEvent>
std::size_t drive_requests(RequestParser& parser, std::string_view data,
                           const RequestLimits& limits, OnEvent&& on_event) {
  std::size_t used = 0;
  while (used < data.size()) {
    const ParseEvent event = parser.feed(data.substr(used), limits);
    assert(event.consumed <= data.size() - used);
    used += event.consumed;
    if (event.kind == ParseEvent::Kind::need_more) {
      assert(used == data.size());  // need_more means every byte was taken
      break;
    }
    if (!on_event(event)) break;
  }
  return used;
}

}  // namespace hellod
