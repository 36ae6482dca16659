#include "systemd.hpp"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace hellod::systemd {
namespace {

void notify(const std::string& message) {
  sd_notify(0, message.c_str());
}

std::uint64_t monotonic_usec() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000U;
}

// STATUS= is one line: keep a message's newlines from ending it early.
std::string one_line(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  return line;
}

Result<ListenSocket> check_inherited(int fd, const char* fd_name) {
  const bool unix_socket = sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) > 0;
  if (!unix_socket && sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
    return Error{fmt::format("inherited file descriptor {} ({}) is not a listening TCP or unix "
                             "stream socket; check ListenStream= in the socket unit",
                             fd, fd_name != nullptr ? fd_name : "unnamed"),
                 ENOTSOCK};
  }
  return ListenSocket{fd, describe_socket(fd), unix_socket, fd_name != nullptr ? fd_name : ""};
}

}  // namespace

Result<std::vector<ListenSocket>> inherited_sockets() {
  char** names = nullptr;
  // unset_environment=1: children (none today) must not think the fds are theirs.
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) return Error{fmt::format("LISTEN_FDS: {}", std::strerror(-count)), -count};
  std::vector<ListenSocket> sockets;
  Error failure;
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    Result<ListenSocket> socket = check_inherited(fd, names != nullptr ? names[i] : nullptr);
    if (socket) {
      sockets.push_back(std::move(socket.value()));
    } else if (failure.message.empty()) {
      failure = socket.error();
    }
  }
  if (names != nullptr) {
    for (int i = 0; i < count; ++i)
      std::free(names[i]);                 // NOLINT: libsystemd allocates with malloc
    std::free(static_cast<void*>(names));  // NOLINT
  }
  if (!failure.message.empty()) return failure;
  return sockets;
}

void notify_ready(std::string_view status) {
  notify(fmt::format("READY=1\nSTATUS={}", one_line(status)));
}

void notify_reloading() {
  notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

void notify_stopping(std::string_view status) {
  notify(fmt::format("STOPPING=1\nSTATUS={}", one_line(status)));
}

void notify_status(std::string_view status) {
  notify(fmt::format("STATUS={}", one_line(status)));
}

void notify_failure(std::string_view status, int errno_value) {
  if (errno_value != 0) {
    notify(fmt::format("STATUS={}\nERRNO={}", one_line(status), errno_value));
  } else {
    notify_status(status);
  }
}

void notify_extend_timeout(std::chrono::microseconds more) {
  notify(fmt::format("EXTEND_TIMEOUT_USEC={}", more.count()));
}

void notify_watchdog() {
  sd_notify(0, "WATCHDOG=1");
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace hellod::systemd
