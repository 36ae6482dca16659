#include "backlog_probe.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>

namespace hellod {

BacklogProbe::~BacklogProbe() {
  forget_all();
}

void BacklogProbe::watch(const std::vector<ListenSocket>& sockets) {
  for (const ListenSocket& socket : sockets) {
    std::uint64_t length = 0;
    if (socket.unix_socket || !queue_length(socket.fd, length)) continue;
    const int copy = fcntl(socket.fd, F_DUPFD_CLOEXEC, 0);
    if (copy >= 0) watched_.push_back(Watched{socket.name, copy});
  }
}

void BacklogProbe::forget(const std::vector<std::string>& names) {
  const auto gone = std::remove_if(watched_.begin(), watched_.end(), [&](const Watched& w) {
    if (std::find(names.begin(), names.end(), w.name) == names.end()) return false;
    ::close(w.fd);
    return true;
  });
  watched_.erase(gone, watched_.end());
}

void BacklogProbe::forget_all() {
  for (const Watched& w : watched_) ::close(w.fd);
  watched_.clear();
}

std::optional<std::uint64_t> BacklogProbe::waiting() const {
  if (watched_.empty()) return std::nullopt;
  std::uint64_t total = 0;
  for (const Watched& w : watched_) {
    std::uint64_t length = 0;
    if (queue_length(w.fd, length)) total += length;
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
