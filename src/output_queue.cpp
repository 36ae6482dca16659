// SPDX-License-Identifier: MIT
#include "output_queue.hpp"

#include <cassert>

namespace hellod {

void OutputQueue::append_copy(std::string_view bytes) {
  if (bytes.empty()) return;
  // Consecutive heads (and the 100 Continue) share one segment: fewer iovecs.
  if (!queued_.empty() && !queued_.back().body) {
    queued_.back().copy.append(bytes);
  } else {
    queued_.push_back(Segment{std::string(bytes), nullptr, 0, 0});
  }
  queued_bytes_ += bytes.size();
}

void OutputQueue::append_body(const SharedBody& body, std::string_view part) {
  if (part.empty()) return;
  const std::string_view whole = body.view();
  assert(part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
  const auto offset = static_cast<std::size_t>(part.data() - whole.data());
  queued_.push_back(Segment{{}, body.owner(), offset, part.size()});
  queued_bytes_ += part.size();
}

int OutputQueue::start_write(uv_stream_t* stream, uv_write_cb on_done, void* data) {
  if (writing() || queued_.empty()) return 0;
  in_flight_.swap(queued_);
  in_flight_bytes_ = queued_bytes_;
  queued_bytes_ = 0;
  bufs_.clear();
  for (const Segment& segment : in_flight_) {
    const std::string_view bytes = segment.bytes();
    bufs_.push_back(
        uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size())));
  }
  request_.data = data;
  const int status =
      uv_write(&request_, stream, bufs_.data(), static_cast<unsigned>(bufs_.size()), on_done);
  if (status < 0) write_done();
  return status;
}

void OutputQueue::write_done() {
  in_flight_.clear();
  in_flight_bytes_ = 0;
}

}  // namespace hellod
