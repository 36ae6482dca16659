// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <cstddef>
#include <vector>

#include "output_queue.hpp"
#include "response.hpp"

namespace hellod {

// The responses one read produced, gathered for a single writev. Shared by
// every connection of a loop; it points at the loop's rendered responses, so
// it is emptied before the callback that filled it returns (see
// Connection's guarded callbacks): no iovec outlives its snapshot.
class OutputBatch {
 public:
  // Buffers gathered for one writev; IOV_MAX is 1024, and a batch this size
  // is already far past the point where one more syscall matters.
  static constexpr std::size_t kMaxBuffers = 128;

  OutputBatch();

  void add(const ResponseBytes& bytes);
  [[nodiscard]] bool full() const { return bufs_.size() >= kMaxBuffers; }
  [[nodiscard]] bool empty() const { return bufs_.empty(); }

  // What follows the write on the socket: more traffic, or our FIN.
  enum class Then : unsigned char { more, fin };

  // One sendmsg(2) of everything gathered on the socket fd, which has no
  // output queued elsewhere: the bytes written (0 when the socket is full),
  // or a libuv error status. With Then::fin the caller closes or shuts down
  // the socket next, and the bytes wait in the kernel for it (MSG_MORE): the
  // FIN then leaves in the same TCP segment as the response, one segment
  // fewer each way than a response followed by a bare FIN.
  [[nodiscard]] ssize_t try_write(int fd, Then then);
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  // After a partial write: what the socket did not take goes to `unsent`
  // (heads copied, bodies referenced).
  void move_unsent(std::size_t written, OutputQueue& unsent) const;
  void clear();

 private:
  std::vector<uv_buf_t> bufs_;
  std::vector<const SharedBody*> bodies_;  // per buffer: its body, or null for a head
  std::size_t bytes_ = 0;
};

}  // namespace hellod
