// SPDX-License-Identifier: MIT
#include "journal_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

namespace hellod {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

void append_size(std::string& entry, std::uint64_t size) {
  for (int byte = 0; byte < 8; ++byte) {
    entry.push_back(static_cast<char>((size >> (8 * byte)) & 0xffU));
  }
}

int write_whole(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return errno;
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return 0;
}

// As libsystemd: as much as the kernel allows (net.core.wmem_max), so that
// a journald that is briefly slow finds entries queued, not dropped.
constexpr int kSendBufferBytes = 8 << 20;

// Linux 6.3 asks for MFD_EXEC or MFD_NOEXEC_SEAL (and warns without either);
// older kernels refuse the flag with EINVAL, and their headers lack it.
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

int create_memfd() {
  const int fd =
      ::memfd_create("hellod-journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd >= 0 || errno != EINVAL) return fd;
  return ::memfd_create("hellod-journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

JournalWriter::Outcome outcome_of(int error) {
  if (error == 0) return JournalWriter::Outcome::sent;
  if (error == EAGAIN) return JournalWriter::Outcome::stalled;
  return JournalWriter::Outcome::failed;
}

}  // namespace

void append_journal_field(std::string& entry, std::string_view field) {
  const std::size_t equals = field.find('=');
  assert(equals != std::string_view::npos && equals != 0);  // NAME=value
  const std::string_view value = field.substr(equals + 1);
  if (value.find('\n') == std::string_view::npos) {
    entry.append(field).push_back('\n');
    return;
  }
  entry.append(field.substr(0, equals)).push_back('\n');
  append_size(entry, value.size());
  entry.append(value).push_back('\n');
}

JournalWriter::JournalWriter(std::string socket_path) : socket_path_(std::move(socket_path)) {}

JournalWriter::Outcome JournalWriter::send(std::string_view entry, milliseconds patience) {
  iovec part{const_cast<char*>(entry.data()), entry.size()};
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  int error = send_message(message, patience);
  // Larger than a datagram may be (the socket's send buffer).
  if (error == EMSGSIZE || error == ENOBUFS) error = send_in_memfd(entry, patience);
  return outcome_of(error);
}

int JournalWriter::send_message(const msghdr& message, milliseconds patience) {
  const steady_clock::time_point deadline = steady_clock::now() + patience;
  bool reconnected = false;
  for (;;) {
    if (!socket_.valid()) {
      if (const int error = connect(); error != 0) return error;
    }
    if (::sendmsg(socket_.get(), &message, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    const int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN) {
      if (!wait_until_writable(deadline)) return EAGAIN;
      continue;
    }
    // journald's socket went away (a journald that was not socket
    // activated restarted): a new connection reaches the new one.
    if ((error == ECONNREFUSED || error == ENOTCONN) && !reconnected) {
      socket_.reset();
      reconnected = true;
      continue;
    }
    return error;
  }
}

int JournalWriter::send_in_memfd(std::string_view entry, milliseconds patience) {
  const UniqueFd data(create_memfd());
  if (!data.valid()) return errno;
  if (const int error = write_whole(data.get(), entry); error != 0) return error;
  // journald reads only a memfd that nobody can change any more.
  if (::fcntl(data.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
      0) {
    return errno;
  }
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  msghdr message{};
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = data.get();
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  return send_message(message, patience);
}

int JournalWriter::connect() {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof address.sun_path) return ENAMETOOLONG;
  std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return errno;
  // Best effort: the default buffer works too, only holds fewer entries.
  static_cast<void>(
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &kSendBufferBytes, sizeof kSendBufferBytes));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    return errno;
  }
  socket_ = std::move(fd);
  return 0;
}

// False once the deadline passed first (or poll itself failed). An error
// counts as writable: the next send reports it.
bool JournalWriter::wait_until_writable(steady_clock::time_point deadline) const {
  pollfd watched{socket_.get(), POLLOUT, 0};
  for (;;) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return false;
    const int ready = ::poll(&watched, 1, static_cast<int>(left.count()));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

}  // namespace hellod
