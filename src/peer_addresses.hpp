// SPDX-License-Identifier: MIT
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <vector>

#include "access_log.hpp"

namespace hellod {

// The client addresses of a worker's TCP connections, by descriptor, for the
// access log. While log.access is on, accept4 hands each address over with
// the descriptor. Asking getpeername(2) for every logged request instead
// cost a system call a request: this gave 4.9% more keep-alive and 41.5%
// more pipelined requests per CPU-second with the text log, side by side.
//
// Not a Connection member: 20 bytes more would take its heap block past 512
// bytes, and an idle connection past the 0.5 KiB it is held to, for a
// feature that is off by default. Here the cost is 20 bytes per descriptor
// number, and only once the log has been on.
//
// An entry lives as long as its descriptor: the connection forgets it at
// close, so a descriptor that a connection accepted while the log was off
// reuses is never taken for the one before.
class PeerAddresses {
 public:
  // fd was accepted from a TCP listener, with its peer's address.
  void remember(int fd, const sockaddr_storage& address);
  // fd is being closed. Every connection's close calls this, log on or off.
  void forget(int fd) {
    const auto slot = static_cast<std::size_t>(fd);
    if (slot < by_fd_.size()) by_fd_[slot].family = AF_UNSPEC;
  }
  // fd's peer: remembered at accept, else (a connection accepted before the
  // log was turned on) asked of the kernel once and remembered. AF_UNSPEC
  // when the kernel has none (the client is gone).
  ClientAddress of(int fd);

 private:
  std::vector<ClientAddress> by_fd_;  // AF_UNSPEC: nothing remembered
};

}  // namespace hellod
