// SPDX-License-Identifier: MIT
#include "peer_addresses.hpp"

#include <cassert>

namespace hellod {

// Grows to the highest descriptor seen, as the kernel hands out the lowest
// free one: the table stops growing once the connection count does, so a
// steady state allocates nothing.
void PeerAddresses::remember(int fd, const sockaddr_storage& address) {
  assert(fd >= 0);
  const auto slot = static_cast<std::size_t>(fd);
  if (slot >= by_fd_.size()) by_fd_.resize(slot + 1);
  by_fd_[slot] = client_address_of(reinterpret_cast<const sockaddr*>(&address));
}

ClientAddress PeerAddresses::of(int fd) {
  assert(fd >= 0);
  const auto slot = static_cast<std::size_t>(fd);
  if (slot < by_fd_.size() && by_fd_[slot].family != AF_UNSPEC) return by_fd_[slot];
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return ClientAddress{};
  remember(fd, peer);
  return by_fd_[slot];
}

}  // namespace hellod
