// SPDX-License-Identifier: MIT
#include "backlog_probe.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>

namespace hellod {

void BacklogProbe::watch(const std::vector<ListenSocket>& sockets) {
  for (const ListenSocket& socket : sockets) {
    std::uint64_t length = 0;
    if (socket.unix_socket || !queue_length(socket.fd.get(), length)) continue;
    UniqueFd copy(fcntl(socket.fd.get(), F_DUPFD_CLOEXEC, 0));
    if (copy.valid()) watched_.push_back(Watched{socket.name, std::move(copy)});
  }
}

void BacklogProbe::watch(const WorkerSockets& sockets) {
  for (const auto& list : sockets) watch(list);
}

void BacklogProbe::take(BacklogProbe&& other) {
  for (Watched& w : other.watched_) watched_.push_back(std::move(w));
  other.watched_.clear();
}

void BacklogProbe::forget(const std::vector<std::string>& names) {
  std::erase_if(watched_, [&](const Watched& w) {
    return std::find(names.begin(), names.end(), w.name) != names.end();
  });
}

void BacklogProbe::forget_all() {
  watched_.clear();
}

std::optional<std::uint64_t> BacklogProbe::waiting() const {
  if (watched_.empty()) return std::nullopt;
  std::uint64_t total = 0;
  for (const Watched& w : watched_) {
    std::uint64_t length = 0;
    if (queue_length(w.fd.get(), length)) total += length;
  }
  return total;
}

bool BacklogProbe::queue_length(int fd, std::uint64_t& length) {
  tcp_info info{};
  socklen_t size = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return false;
  if (info.tcpi_state != TCP_LISTEN) return false;
  length = info.tcpi_unacked;  // sk_ack_backlog for a listening socket
  return true;
}

}  // namespace hellod
