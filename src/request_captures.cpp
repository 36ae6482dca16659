// SPDX-License-Identifier: MIT
#include "request_captures.hpp"

#include <cassert>

namespace hellod {
namespace {

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
  feed_context.owner = &owner;
  feed_context.start = data.data();
  if (!owner.mid_request()) {
    spill.reset();  // its request has been answered
  } else if (spill != nullptr) {
    feed_context.fields = spill->fields;
    feed_context.last = spill->last;
  } else {
    feed_context.fields = {};  // nothing was collected before this read
    feed_context.last = kFieldCount;
  }
}

void clear_captures(std::unique_ptr<CaptureSpill>& spill) {
  feed_context.fields = {};
  feed_context.last = kFieldCount;
  spill.reset();
}

void restart_capture(Field field) {
  feed_context.fields[index_of(field)] = CapturedSpan{};
}

void capture_piece(std::unique_ptr<CaptureSpill>& spill, Field field, std::string_view piece) {
  CapturedSpan& span = feed_context.fields[index_of(field)];
  feed_context.last = index_of(field);
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
  for (const CapturedSpan& span : feed_context.fields) any = any || span.size > 0;
  // With nothing collected, a spill from an earlier read must still learn
  // the fields restarted since (a repeated header), or the next read would
  // bring back their earlier values.
  if (!any && spill == nullptr) return;
  if (spill == nullptr) spill = std::make_unique<CaptureSpill>();
  // The field still being read goes last, so its next piece can be appended.
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    if (i != feed_context.last) copy_into(*spill, feed_context.fields[i]);
  }
  if (feed_context.last < kFieldCount) copy_into(*spill, feed_context.fields[feed_context.last]);
  spill->fields = feed_context.fields;
  spill->last = feed_context.last;
}

std::string_view captured_field(const RequestParser& owner, const CaptureSpill* spill,
                                Field field) {
  assert(feed_context.owner == &owner);
  static_cast<void>(owner);
  const CapturedSpan& span = feed_context.fields[index_of(field)];
  if (span.size == 0) return {};
  if (span.spilled) {
    assert(spill != nullptr);
    return std::string_view(spill->bytes).substr(span.offset, span.size);
  }
  return {span.data, span.size};
}

}  // namespace hellod
