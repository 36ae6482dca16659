// SPDX-License-Identifier: MIT
#include "request_captures.hpp"

#include <cassert>

namespace hellod {
namespace {

// What the feed in progress on this thread works with. Kept per thread, not
// per connection, because it only matters while llhttp runs and until the
// caller has read the request's fields; every idle connection saves the bytes.
struct FeedContext {
  const RequestParser* owner = nullptr;
  const char* start = nullptr;
  std::array<CapturedSpan, kFieldCount> fields{};
  std::size_t last = kFieldCount;  // none yet
};
thread_local FeedContext context;

std::size_t index_of(Field field) {
  return static_cast<std::size_t>(field);
}

void copy_into(CaptureSpill& spill, CapturedSpan& span) {
  if (span.spilled || span.size == 0) return;
  span.offset = static_cast<std::uint32_t>(spill.bytes.size());
  spill.bytes.append(span.data, span.size);
  span.spilled = true;
  span.data = nullptr;
}

}  // namespace

void begin_feed(const RequestParser& owner, std::string_view data,
                std::unique_ptr<CaptureSpill>& spill) {
  context.owner = &owner;
  context.start = data.data();
  if (!owner.mid_request()) {
    spill.reset();  // its request has been answered
  } else if (spill != nullptr) {
    context.fields = spill->fields;
    context.last = spill->last;
  } else {
    context.fields = {};  // nothing was collected before this read
    context.last = kFieldCount;
  }
}

const char* feed_start() {
  return context.start;
}

void clear_captures(std::unique_ptr<CaptureSpill>& spill) {
  context.fields = {};
  context.last = kFieldCount;
  spill.reset();
}

void restart_capture(Field field) {
  context.fields[index_of(field)] = CapturedSpan{};
}

void capture_piece(std::unique_ptr<CaptureSpill>& spill, Field field, std::string_view piece) {
  CapturedSpan& span = context.fields[index_of(field)];
  context.last = index_of(field);
  if (span.spilled) {
    // A token continued from an earlier read; it is the last one spilled.
    assert(spill != nullptr && span.offset + span.size == spill->bytes.size());
    spill->bytes.append(piece);
  } else if (span.size == 0) {
    span.data = piece.data();
  } else {
    assert(span.data + span.size == piece.data());  // one token arrives in order
  }
  span.size += static_cast<std::uint32_t>(piece.size());
}

void spill_captures(std::unique_ptr<CaptureSpill>& spill) {
  bool any = false;
  for (const CapturedSpan& span : context.fields) any = any || span.size > 0;
  // With nothing collected, a spill from an earlier read must still learn
  // the fields restarted since (a repeated header), or the next read would
  // bring back their earlier values.
  if (!any && spill == nullptr) return;
  if (spill == nullptr) spill = std::make_unique<CaptureSpill>();
  // The field still being read goes last, so its next piece can be appended.
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    if (i != context.last) copy_into(*spill, context.fields[i]);
  }
  if (context.last < kFieldCount) copy_into(*spill, context.fields[context.last]);
  spill->fields = context.fields;
  spill->last = context.last;
}

std::string_view captured_field(const RequestParser& owner, const CaptureSpill* spill,
                                Field field) {
  assert(context.owner == &owner);
  static_cast<void>(owner);
  const CapturedSpan& span = context.fields[index_of(field)];
  if (span.size == 0) return {};
  if (span.spilled) {
    assert(spill != nullptr);
    return std::string_view(spill->bytes).substr(span.offset, span.size);
  }
  return {span.data, span.size};
}

}  // namespace hellod
