// SPDX-License-Identifier: MIT
#include "listeners.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "fd_store.hpp"

namespace hellod {
namespace {

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
    // The config accepted only numeric addresses it could convert.
    [[maybe_unused]] const int converted =
        inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr);
    assert(converted == 1);
    length = sizeof(sockaddr_in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(address.port);
    [[maybe_unused]] const int converted = inet_pton(AF_INET, address.host.c_str(), &in4->sin_addr);
    assert(converted == 1);
    length = sizeof(sockaddr_in);
  }
  return storage;
}

bool set_flag(int fd, int level, int option) {
  const int on = 1;
  return ::setsockopt(fd, level, option, &on, sizeof(on)) == 0;
}

// The socket options of a TCP listener; false (errno set) when one fails.
bool set_tcp_options(int fd, int family, bool reuse_port) {
  // SO_REUSEADDR: restart while old connections sit in TIME_WAIT.
  // IPV6_V6ONLY: "[::]:80" means IPv6 only; IPv4 is listed on its own, as
  // nginx does. Without it the socket would also take IPv4 and collide with
  // an IPv4 entry of listen:.
  return set_flag(fd, SOL_SOCKET, SO_REUSEADDR) &&
         (!reuse_port || set_flag(fd, SOL_SOCKET, SO_REUSEPORT)) &&
         (family != AF_INET6 || set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY));
}

// A bound TCP socket; listening too when `listening` (the probe is not).
Result<UniqueFd> bind_tcp(const ListenAddress& address, bool reuse_port, bool listening) {
  const int family = address.kind == ListenAddress::Kind::tcp6 ? AF_INET6 : AF_INET;
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return socket_error("create a socket for", address);
  if (!set_tcp_options(fd.get(), family, reuse_port)) {
    return socket_error("set socket options for", address);
  }
  socklen_t length = 0;
  const sockaddr_storage storage = tcp_sockaddr(address, length);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) < 0 ||
      (listening && ::listen(fd.get(), kListenBacklog) < 0)) {
    return socket_error(listening ? "listen on" : "bind", address);
  }
  return fd;
}

Result<std::uint16_t> bound_port(int fd, const ListenAddress& address) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) < 0) {
    return socket_error("read the port bound for", address);
  }
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

// A socket file nobody answers on is left over from an earlier run; one
// that answers belongs to a live server and is not ours to take.
bool unix_socket_in_use(const sockaddr_un& name) {
  const UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return probe.valid() &&
         ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&name), sizeof(name)) == 0;
}

Result<UniqueFd> bind_unix(const ListenAddress& address) {
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  std::strncpy(name.sun_path, address.path.c_str(), sizeof(name.sun_path) - 1);
  if (unix_socket_in_use(name)) {
    errno = EADDRINUSE;
    return socket_error("bind", address);
  }
  // A stale file from an earlier run; ENOENT (none) is the usual case.
  if (::unlink(address.path.c_str()) < 0 && errno != ENOENT) {
    return socket_error("remove the old socket file of", address);
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return socket_error("create a socket for", address);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&name), sizeof(name)) < 0 ||
      ::listen(fd.get(), kListenBacklog) < 0) {
    return socket_error("bind", address);
  }
  return fd;
}

// A TCP address's sockets, one per worker index, each with its FDNAME=.
Result<std::vector<AdoptedSocket>> bind_tcp_per_worker(const ListenAddress& entry,
                                                       unsigned workers) {
  ListenAddress address = entry;
  const std::string name = entry.to_string();
  if (address.port != 0) {
    Result<UniqueFd> probe = bind_tcp(address, false, false);
    if (!probe) return probe.error();
  }
  std::vector<AdoptedSocket> sockets;
  for (unsigned i = 0; i < workers; ++i) {
    Result<UniqueFd> fd = bind_tcp(address, true, true);
    if (!fd) return fd.error();
    // Port 0 asks the kernel for a free port; the other workers join it.
    if (address.port == 0) {
      Result<std::uint16_t> port = bound_port(fd.value().get(), address);
      if (!port) return port.error();
      address.port = port.value();
    }
    sockets.push_back(
        {i, ListenSocket{std::move(fd.value()), name, false, fd_store::stored_name(entry, i)}});
  }
  return sockets;
}

// The stored sockets of a TCP address, plus a new one for each worker index
// they lack, by ascending index. No probe: the stored sockets hold the port,
// and new ones join their SO_REUSEPORT group (same user, socket(7)).
Result<std::vector<AdoptedSocket>> complete_tcp(const ListenAddress& entry, unsigned workers,
                                                std::vector<AdoptedSocket> sockets) {
  assert(!sockets.empty());
  ListenAddress address = entry;
  Result<std::uint16_t> port = bound_port(sockets.front().socket.fd.get(), entry);
  if (!port) return port.error();
  address.port = port.value();  // the same unless entry asks for port 0
  for (unsigned i = 0; i < workers; ++i) {
    const bool present =
        std::any_of(sockets.begin(), sockets.end(),
                    [i](const AdoptedSocket& socket) { return socket.index == i; });
    if (present) continue;
    Result<UniqueFd> fd = bind_tcp(address, true, true);
    if (!fd) return fd.error();
    sockets.push_back({i, ListenSocket{std::move(fd.value()), entry.to_string(), false,
                                       fd_store::stored_name(entry, i)}});
  }
  std::sort(sockets.begin(), sockets.end(),
            [](const AdoptedSocket& a, const AdoptedSocket& b) { return a.index < b.index; });
  return sockets;
}

Result<WorkerSockets> unix_sockets(const ListenAddress& entry, unsigned workers,
                                   std::vector<AdoptedSocket> adopted) {
  std::vector<ListenSocket> one;
  if (!adopted.empty()) {
    assert(adopted.size() == 1 && adopted.front().index == 0);
    one.push_back(std::move(adopted.front().socket));
  } else {
    Result<UniqueFd> fd = bind_unix(entry);
    if (!fd) return fd.error();
    one.push_back(ListenSocket{std::move(fd.value()), entry.to_string(), true,
                               fd_store::stored_name(entry, 0)});
  }
  return share_with_workers(std::move(one), workers);
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

Result<WorkerSockets> bind_listeners(const std::vector<ListenAddress>& addresses, unsigned workers,
                                     std::vector<std::vector<AdoptedSocket>> adopted) {
  assert(workers > 0 && (adopted.empty() || adopted.size() == addresses.size()));
  adopted.resize(addresses.size());
  WorkerSockets per_worker(workers);
  for (std::size_t a = 0; a < addresses.size(); ++a) {
    const ListenAddress& address = addresses[a];
    if (address.kind == ListenAddress::Kind::unix_path) {
      Result<WorkerSockets> shared = unix_sockets(address, workers, std::move(adopted[a]));
      if (!shared) return shared.error();
      for (unsigned i = 0; i < workers; ++i) {
        for (ListenSocket& socket : shared.value()[i]) per_worker[i].push_back(std::move(socket));
      }
      continue;
    }
    Result<std::vector<AdoptedSocket>> sockets =
        adopted[a].empty() ? bind_tcp_per_worker(address, workers)
                           : complete_tcp(address, workers, std::move(adopted[a]));
    if (!sockets) return sockets.error();
    for (std::size_t j = 0; j < sockets.value().size(); ++j) {
      per_worker[j % workers].push_back(std::move(sockets.value()[j].socket));
    }
  }
  return per_worker;
}

std::vector<std::string> bound_addresses(const std::vector<ListenAddress>& addresses,
                                         const std::vector<ListenSocket>& first_worker) {
  std::vector<std::string> bound;
  for (const ListenAddress& address : addresses) {
    const std::string name = address.to_string();
    const auto socket = std::find_if(first_worker.begin(), first_worker.end(),
                                     [&](const ListenSocket& s) { return s.name == name; });
    bound.push_back(socket != first_worker.end() ? describe_socket(socket->fd.get()) : name);
  }
  return bound;
}

Result<WorkerSockets> share_with_workers(std::vector<ListenSocket>&& sockets, unsigned workers) {
  WorkerSockets per_worker(workers);
  for (const ListenSocket& socket : sockets) {
    for (unsigned i = 0; i < workers; ++i) {
      UniqueFd copy(::fcntl(socket.fd.get(), F_DUPFD_CLOEXEC, 0));
      if (!copy.valid()) {
        const int error = errno;
        return Error{
            fmt::format("cannot share {} with worker {}: {}", socket.name, i, std::strerror(error)),
            error};
      }
      per_worker[i].push_back(
          ListenSocket{std::move(copy), socket.name, socket.unix_socket, socket.stored_name});
    }
  }
  sockets.clear();  // the originals are closed: every worker holds its own
  return per_worker;
}

std::vector<ListenAddress> missing_from(const std::vector<ListenAddress>& wanted,
                                        const std::vector<ListenAddress>& present) {
  std::vector<ListenAddress> missing;
  for (const ListenAddress& address : wanted) {
    if (std::find(present.begin(), present.end(), address) == present.end())
      missing.push_back(address);
  }
  return missing;
}

}  // namespace hellod
