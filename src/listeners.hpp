// SPDX-License-Identifier: MIT
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
  // Its FDNAME= in systemd's file descriptor store (fd_store.hpp); empty for
  // a socket hellod did not bind itself (socket activation).
  std::string stored_name;
};

// One list of sockets per worker.
using WorkerSockets = std::vector<std::vector<ListenSocket>>;

// A socket taken back from systemd's file descriptor store for a listen:
// entry, with the index its name carries.
struct AdoptedSocket {
  unsigned index = 0;
  ListenSocket socket;
};

// The entries of wanted that present lacks, in wanted's order: what a reload
// adds (wanted: the new list) or removes (wanted: the old one).
std::vector<ListenAddress> missing_from(const std::vector<ListenAddress>& wanted,
                                        const std::vector<ListenAddress>& present);

// Binds every address once per worker. TCP addresses get one SO_REUSEPORT
// socket per worker, so the kernel spreads connections; a unix socket is
// bound once and shared. Before that, each TCP address is probed without
// SO_REUSEPORT, so a second hellod on the same port fails clearly instead of
// silently splitting its traffic. On failure nothing stays open.
//
// adopted (empty, or one list per address) holds stored sockets to serve
// again: an address with some is not probed (its port is ours already);
// only the worker indexes it lacks are bound, joining the stored sockets'
// SO_REUSEPORT group. When more sockets were stored than there are workers
// now, every one is still served (socket i by worker i % workers), since a
// closed one would reset the connections waiting in its queue.
Result<WorkerSockets> bind_listeners(const std::vector<ListenAddress>& addresses, unsigned workers,
                                     std::vector<std::vector<AdoptedSocket>> adopted = {});

// Per address, the address worker 0 really serves it on (port 0 resolved):
// what STATUS= and the log show.
std::vector<std::string> bound_addresses(const std::vector<ListenAddress>& addresses,
                                         const std::vector<ListenSocket>& first_worker);

// Gives every worker its own descriptor of each socket (dup), for sockets
// that cannot be bound per worker: inherited ones and unix sockets. The
// originals are closed.
Result<WorkerSockets> share_with_workers(std::vector<ListenSocket>&& sockets, unsigned workers);

// The socket's own address, e.g. "127.0.0.1:41234" or "unix:/run/x.sock":
// what it really serves, port 0 and inherited sockets included; "?" when the
// kernel cannot say.
std::string describe_socket(int fd);

}  // namespace hellod
