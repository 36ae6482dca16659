#pragma once

#include <string>
#include <vector>

#include "config.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace hellod {

// The kernel caps the backlog at net.core.somaxconn (4096 by default); ask
// for that much so bursts wait in the kernel instead of being refused.
inline constexpr int kListenBacklog = 4096;

// A listening socket ready for a worker's loop. Whoever holds it owns the
// descriptor; a socket dropped on an error path is closed.
struct ListenSocket {
  UniqueFd fd;
  // As in the config, e.g. "0.0.0.0:8080", or the socket's address when inherited.
  std::string name;
  bool unix_socket = false;
};

// One list of sockets per worker.
using WorkerSockets = std::vector<std::vector<ListenSocket>>;

// Binds every address once per worker. TCP addresses get one SO_REUSEPORT
// socket per worker, so the kernel spreads connections; a unix socket is
// bound once and shared. Before that, each TCP address is probed without
// SO_REUSEPORT, so a second hellod on the same port fails clearly instead of
// silently splitting its traffic. On failure nothing stays open.
Result<WorkerSockets> bind_listeners(const std::vector<ListenAddress>& addresses, unsigned workers);

// Gives every worker its own descriptor of each socket (dup), for sockets
// that cannot be bound per worker: inherited ones and unix sockets. The
// originals are closed.
Result<WorkerSockets> share_with_workers(std::vector<ListenSocket>&& sockets, unsigned workers);

// The socket's own address, e.g. "127.0.0.1:41234" or "unix:/run/x.sock":
// what it really serves, port 0 and inherited sockets included; "?" when the
// kernel cannot say.
std::string describe_socket(int fd);

}  // namespace hellod
