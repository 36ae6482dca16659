// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared_body.hpp"

namespace hellod {

// Output a connection could not write at once. A response head is copied
// (its Date bytes are rewritten every second), a body is only referenced:
// a slow client of a 16 MiB body costs a pointer and an offset, not a copy,
// and the reference keeps the body alive across a reload.
//
// At most one uv_write is in flight; what is queued behind it waits for it
// to complete, so the bytes handed to libuv never move or change.
class OutputQueue {
 public:
  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;
  ~OutputQueue() = default;

  void append_copy(std::string_view bytes);
  void append_body(const SharedBody& body, std::string_view part);

  // Hands everything queued to uv_write when nothing is in flight; a libuv
  // status (0 when there was nothing to start).
  int start_write(uv_stream_t* stream, uv_write_cb on_done, void* data);
  // The in-flight write completed (or was cancelled): its bytes are released.
  void write_done();

  [[nodiscard]] bool writing() const { return !in_flight_.empty(); }
  [[nodiscard]] bool empty() const { return in_flight_.empty() && queued_.empty(); }
  [[nodiscard]] std::size_t pending_bytes() const { return in_flight_bytes_ + queued_bytes_; }
  [[nodiscard]] std::size_t in_flight_bytes() const { return in_flight_bytes_; }

 private:
  // Either a copy, or a slice of a shared body.
  struct Segment {
    std::string copy;
    std::shared_ptr<const std::string> body;
    std::size_t offset = 0;
    std::size_t size = 0;
    [[nodiscard]] std::string_view bytes() const {
      return body ? std::string_view(*body).substr(offset, size) : std::string_view(copy);
    }
  };

  std::vector<Segment> in_flight_;
  std::vector<Segment> queued_;
  std::vector<uv_buf_t> bufs_;  // of in_flight_, handed to uv_write
  uv_write_t request_{};
  std::size_t in_flight_bytes_ = 0;
  std::size_t queued_bytes_ = 0;
};

}  // namespace hellod
