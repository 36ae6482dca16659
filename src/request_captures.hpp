// SPDX-License-Identifier: MIT
#pragma once

// The request parser's collected fields (request_parser.hpp, Field). Spans
// point into the bytes being fed, so collecting them copies nothing; only
// when a request with collected fields spans several reads are its fields
// copied into a small per-connection spill before the read buffer is reused.
// Internal to the parser.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "request_parser.hpp"

namespace hellod {

struct CapturedSpan {
  const char* data = nullptr;  // in the current feed, unless spilled
  std::uint32_t size = 0;
  std::uint32_t offset = 0;  // in CaptureSpill::bytes when spilled
  bool spilled = false;
};

struct CaptureSpill {
  std::string bytes;
  std::array<CapturedSpan, kFieldCount> fields{};
  std::size_t last = kFieldCount;  // the field collected most recently, if any
};

// What the feed in progress on this thread works with. Kept per thread, not
// per connection, because it only matters while llhttp runs and until the
// caller has read the request's fields; every idle connection saves the bytes.
struct FeedContext {
  const RequestParser* owner = nullptr;
  const char* start = nullptr;
  std::array<CapturedSpan, kFieldCount> fields{};
  std::size_t last = kFieldCount;  // none yet
};
// Constant-initialised, so reaching it costs no TLS wrapper call.
inline thread_local constinit FeedContext feed_context;

// Called at the start of every feed: the feed's bytes, and the spilled fields
// of a request that began in an earlier read.
void begin_feed(const RequestParser& owner, std::string_view data,
                std::unique_ptr<CaptureSpill>& spill);
// Where the current feed's bytes start (for looking back across a line end).
inline const char* feed_start() {
  return feed_context.start;
}

void clear_captures(std::unique_ptr<CaptureSpill>& spill);
// A new occurrence of a field replaces the previous one (the last one wins).
void restart_capture(Field field);
void capture_piece(std::unique_ptr<CaptureSpill>& spill, Field field, std::string_view piece);
// Before the read buffer is reused mid-request: copy what points into it.
void spill_captures(std::unique_ptr<CaptureSpill>& spill);
std::string_view captured_field(const RequestParser& owner, const CaptureSpill* spill, Field field);

}  // namespace hellod
