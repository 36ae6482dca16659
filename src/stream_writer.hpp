// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

#include "unique_fd.hpp"

namespace hellod {

// Writes to a stream that another process drains (stderr: a pipe to a log
// shipper, a container runtime's log driver, a terminal, journald's stream
// socket) without waiting on it longer than the caller allows: when that
// process stalls, the stream fills, and a blocking write would wait for as
// long as it stalls.
//
// O_NONBLOCK on the descriptor itself would change it for every process
// that shares it (a shell's terminal too), so a socket is written with
// MSG_DONTWAIT, a pipe or a terminal through a descriptor of our own opened
// non-blocking (/proc/self/fd/N opens the same pipe or device anew), and
// anything else (a regular file, which never waits on a reader) as is.
class StreamWriter {
 public:
  explicit StreamWriter(int fd);

  struct Progress {
    std::size_t bytes = 0;  // how much of the data the stream took
    bool stalled = false;   // it took nothing more for `patience`
  };

  // Writes data whole unless the stream takes nothing for `patience` at a
  // time (stalled) or fails (a closed stream: not stalled, and what is
  // left is lost either way).
  Progress write(std::string_view data, std::chrono::milliseconds patience) const;

 private:
  [[nodiscard]] long write_some(std::string_view data) const;
  [[nodiscard]] bool wait_until_writable(std::chrono::milliseconds patience) const;

  int fd_;        // where the bytes go: the caller's or own_
  bool socket_;   // written with send(MSG_DONTWAIT)
  UniqueFd own_;  // a non-blocking descriptor of the same pipe or device
};

}  // namespace hellod
