#pragma once

#include <string>
#include <vector>

#include "config.hpp"
#include "result.hpp"

namespace hellod {

// A listening socket ready for a worker's loop. The worker that receives it
// owns the fd.
struct ListenSocket {
  int fd = -1;
  std::string
      name;  // as in the config, e.g. "0.0.0.0:8080", or the socket's address when inherited
  bool unix_socket = false;
  std::string fd_name;  // an inherited socket's FileDescriptorName= (sd_listen_fds_with_names)
};

// One list of sockets per worker.
using WorkerSockets = std::vector<std::vector<ListenSocket>>;

// Binds every address once per worker. TCP addresses get one SO_REUSEPORT
// socket per worker, so the kernel spreads connections; a unix socket is
// bound once and shared. Before that, each TCP address is probed without
// SO_REUSEPORT, so a second hellod on the same port fails clearly instead of
// silently splitting its traffic.
Result<WorkerSockets> bind_listeners(const std::vector<ListenAddress>& addresses, unsigned workers);

// Gives every worker its own descriptor of each socket (dup), for sockets
// that cannot be bound per worker: inherited ones and unix sockets. The
// originals are closed.
WorkerSockets share_with_workers(const std::vector<ListenSocket>& sockets, unsigned workers);

// The socket's own address, e.g. "127.0.0.1:41234" or "unix:/run/x.sock":
// what it really serves, port 0 and inherited sockets included.
std::string describe_socket(int fd);

// Closes every descriptor (start-up failed before workers took them).
void close_sockets(WorkerSockets& sockets);

}  // namespace hellod
