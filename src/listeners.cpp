#include "listeners.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace hellod {
namespace {

constexpr int kBacklog = 4096;

Error socket_error(const std::string& what, const ListenAddress& address) {
  const int error = errno;
  return Error{fmt::format("cannot {} {}: {}", what, address.to_string(), std::strerror(error)),
               error};
}

sockaddr_storage tcp_sockaddr(const ListenAddress& address, socklen_t& length) {
  sockaddr_storage storage{};
  if (address.kind == ListenAddress::Kind::tcp6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr);
    length = sizeof(sockaddr_in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(address.port);
    inet_pton(AF_INET, address.host.c_str(), &in4->sin_addr);
    length = sizeof(sockaddr_in);
  }
  return storage;
}

void set_flag(int fd, int level, int option) {
  const int on = 1;
  setsockopt(fd, level, option, &on, sizeof(on));
}

// A bound TCP socket; listening too when `listening` (the probe is not).
Result<int> bind_tcp(const ListenAddress& address, bool reuse_port, bool listening) {
  const int family = address.kind == ListenAddress::Kind::tcp6 ? AF_INET6 : AF_INET;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return socket_error("create a socket for", address);
  set_flag(fd, SOL_SOCKET, SO_REUSEADDR);  // restart while old connections sit in TIME_WAIT
  if (reuse_port) set_flag(fd, SOL_SOCKET, SO_REUSEPORT);
  // "[::]:80" means IPv6 only; IPv4 is listed on its own, as nginx does.
  if (family == AF_INET6) set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY);
  socklen_t length = 0;
  const sockaddr_storage storage = tcp_sockaddr(address, length);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) < 0 ||
      (listening && ::listen(fd, kBacklog) < 0)) {
    Error error = socket_error(listening ? "listen on" : "bind", address);
    ::close(fd);
    return error;
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

// A socket file nobody answers on is left over from an earlier run; one
// that answers belongs to a live server and is not ours to take.
bool unix_socket_in_use(const sockaddr_un& name) {
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const bool in_use = ::connect(probe, reinterpret_cast<const sockaddr*>(&name), sizeof(name)) == 0;
  ::close(probe);
  return in_use;
}

Result<int> bind_unix(const ListenAddress& address) {
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  std::strncpy(name.sun_path, address.path.c_str(), sizeof(name.sun_path) - 1);
  if (unix_socket_in_use(name)) {
    errno = EADDRINUSE;
    return socket_error("bind", address);
  }
  ::unlink(address.path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return socket_error("create a socket for", address);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&name), sizeof(name)) < 0 ||
      ::listen(fd, kBacklog) < 0) {
    Error error = socket_error("bind", address);
    ::close(fd);
    return error;
  }
  return fd;
}

Result<std::vector<ListenSocket>> bind_tcp_per_worker(ListenAddress address, unsigned workers) {
  const std::string name = address.to_string();
  if (address.port != 0) {
    Result<int> probe = bind_tcp(address, false, false);
    if (!probe) return probe.error();
    ::close(probe.value());
  }
  std::vector<ListenSocket> sockets;
  for (unsigned i = 0; i < workers; ++i) {
    Result<int> fd = bind_tcp(address, true, true);
    if (!fd) {
      for (ListenSocket& socket : sockets) ::close(socket.fd);
      return fd.error();
    }
    // Port 0 asks the kernel for a free port; the other workers join it.
    if (address.port == 0) address.port = bound_port(fd.value());
    sockets.push_back(ListenSocket{fd.value(), name, false, {}});
  }
  return sockets;
}

}  // namespace

std::string describe_socket(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) < 0) return "?";
  std::array<char, INET6_ADDRSTRLEN> text{};
  switch (storage.ss_family) {
    case AF_INET: {
      const auto* in4 = reinterpret_cast<const sockaddr_in*>(&storage);
      inet_ntop(AF_INET, &in4->sin_addr, text.data(), text.size());
      return fmt::format("{}:{}", text.data(), ntohs(in4->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
      inet_ntop(AF_INET6, &in6->sin6_addr, text.data(), text.size());
      return fmt::format("[{}]:{}", text.data(), ntohs(in6->sin6_port));
    }
    case AF_UNIX:
      return fmt::format("unix:{}", reinterpret_cast<const sockaddr_un*>(&storage)->sun_path);
    default:
      return "?";
  }
}

Result<WorkerSockets> bind_listeners(const std::vector<ListenAddress>& addresses,
                                     unsigned workers) {
  WorkerSockets per_worker(workers);
  for (const ListenAddress& address : addresses) {
    std::vector<std::vector<ListenSocket>> bound;
    if (address.kind == ListenAddress::Kind::unix_path) {
      Result<int> fd = bind_unix(address);
      if (!fd) {
        close_sockets(per_worker);
        return fd.error();
      }
      bound =
          share_with_workers({ListenSocket{fd.value(), address.to_string(), true, {}}}, workers);
    } else {
      Result<std::vector<ListenSocket>> sockets = bind_tcp_per_worker(address, workers);
      if (!sockets) {
        close_sockets(per_worker);
        return sockets.error();
      }
      for (ListenSocket& socket : sockets.value()) bound.push_back({std::move(socket)});
    }
    for (unsigned i = 0; i < workers; ++i) {
      for (ListenSocket& socket : bound[i]) per_worker[i].push_back(std::move(socket));
    }
  }
  return per_worker;
}

WorkerSockets share_with_workers(const std::vector<ListenSocket>& sockets, unsigned workers) {
  WorkerSockets per_worker(workers);
  for (const ListenSocket& socket : sockets) {
    for (unsigned i = 0; i < workers; ++i) {
      ListenSocket copy = socket;
      copy.fd = fcntl(socket.fd, F_DUPFD_CLOEXEC, 0);
      per_worker[i].push_back(std::move(copy));
    }
    ::close(socket.fd);
  }
  return per_worker;
}

void close_sockets(WorkerSockets& sockets) {
  for (auto& list : sockets) {
    for (ListenSocket& socket : list) {
      if (socket.fd >= 0) ::close(socket.fd);
      socket.fd = -1;
    }
  }
}

}  // namespace hellod
