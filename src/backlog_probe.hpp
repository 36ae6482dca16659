// SPDX-License-Identifier: MIT
#pragma once

// hellod_connections_waiting_backlog: clients the kernel has accepted into a
// listening socket's queue that no worker has taken yet (at
// limits.max_connections, or while a loop is busy).
//
// For a listening TCP socket, TCP_INFO reports the accept queue's length in
// tcpi_unacked and its limit in tcpi_sacked (the kernel's tcp_get_info()
// does so for TCP_LISTEN; `ss -l` shows the same as Recv-Q). The supervisor
// keeps a duplicate of each public TCP listening socket for this; a
// duplicate shares the socket, so it must be closed whenever the worker's
// copy is (reload, shutdown), or the port would stay bound. Unix sockets
// have no such query short of sock_diag netlink and are not counted.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "listeners.hpp"

namespace hellod {

class BacklogProbe {
 public:
  BacklogProbe() = default;
  BacklogProbe(const BacklogProbe&) = delete;
  BacklogProbe& operator=(const BacklogProbe&) = delete;
  BacklogProbe(BacklogProbe&&) = default;
  BacklogProbe& operator=(BacklogProbe&&) = default;
  ~BacklogProbe() = default;

  // Keeps a duplicate of each TCP socket (others are skipped), by name.
  void watch(const std::vector<ListenSocket>& sockets);
  void watch(const WorkerSockets& sockets);
  // Moves other's duplicates here (a reload's, once it applies).
  void take(BacklogProbe&& other);
  // Closes the duplicates of the named listeners.
  void forget(const std::vector<std::string>& names);
  void forget_all();

  // The sum of the accept queues' lengths; nothing when no TCP listener
  // is watched (unix sockets only).
  [[nodiscard]] std::optional<std::uint64_t> waiting() const;

  // One socket's accept queue length; false when it is not a listening TCP
  // socket.
  static bool queue_length(int fd, std::uint64_t& length);

 private:
  struct Watched {
    std::string name;
    UniqueFd fd;
  };
  std::vector<Watched> watched_;
};

}  // namespace hellod
