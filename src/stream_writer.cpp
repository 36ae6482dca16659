// SPDX-License-Identifier: MIT
#include "stream_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace hellod {
namespace {

bool is_socket(const struct stat& info) {
  return S_ISSOCK(info.st_mode);
}

// Pipes (and FIFOs) and terminals are where a reader can hold a writer up.
bool can_reopen_nonblocking(const struct stat& info) {
  return S_ISFIFO(info.st_mode) || S_ISCHR(info.st_mode);
}

// A new open file description of the same pipe or device, so O_NONBLOCK is
// ours alone. It fails when /proc is not mounted, or for a pipe whose read
// end is closed (ENXIO): writes then go to fd itself, blocking as before.
UniqueFd reopen_nonblocking(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
}

}  // namespace

StreamWriter::StreamWriter(int fd) : fd_(fd), socket_(false) {
  struct stat info {};
  if (::fstat(fd, &info) < 0) return;
  socket_ = is_socket(info);
  if (!can_reopen_nonblocking(info)) return;
  own_ = reopen_nonblocking(fd);
  if (own_.valid()) fd_ = own_.get();
}

StreamWriter::Progress StreamWriter::write(std::string_view data,
                                           std::chrono::milliseconds patience) const {
  Progress progress;
  while (progress.bytes < data.size()) {
    const long n = write_some(data.substr(progress.bytes));
    if (n > 0) {
      progress.bytes += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_until_writable(patience)) {
        progress.stalled = true;
        break;
      }
    } else {
      break;  // failed: a closed stream takes nothing, now or later
    }
  }
  return progress;
}

long StreamWriter::write_some(std::string_view data) const {
  if (socket_) return ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  return ::write(fd_, data.data(), data.size());
}

// False when patience ran out first (or poll itself failed). A stream's
// error or hang-up counts as writable: the next write reports it.
bool StreamWriter::wait_until_writable(std::chrono::milliseconds patience) const {
  pollfd watched{fd_, POLLOUT, 0};
  for (;;) {
    const int ready = ::poll(&watched, 1, static_cast<int>(patience.count()));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace hellod
