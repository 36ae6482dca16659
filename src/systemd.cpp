// SPDX-License-Identifier: MIT
#include "systemd.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "listeners.hpp"

namespace hellod::systemd {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";  // as describe_socket() spells it

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

// What a passed descriptor is: its address when it is a listening stream
// socket (TCP or unix), which is all hellod can serve.
fd_store::Passed describe_passed(int fd, const char* name) {
  fd_store::Passed info;
  info.name = name != nullptr ? name : "unknown";
  info.unix_socket = sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) > 0;
  if (info.unix_socket || sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0) {
    info.listening = describe_socket(fd);
  }
  if (info.unix_socket && info.listening && info.listening->starts_with(kUnixPrefix)) {
    // Clients reach a unix socket by its file: a stored one whose file was
    // removed (RuntimeDirectoryPreserve=no) serves nobody. Whether the file
    // still names this very socket cannot be asked of the kernel simply; a
    // socket file in hellod's own directory is taken to be its own.
    struct stat file {};
    const std::string path = info.listening->substr(kUnixPrefix.size());
    info.file_gone = ::stat(path.c_str(), &file) != 0 || !S_ISSOCK(file.st_mode);
  }
  return info;
}

Status failed(std::string_view what, int result) {
  return Error{fmt::format("{}: {}", what, std::strerror(-result)), -result};
}

}  // namespace

Result<std::vector<PassedSocket>> passed_sockets() {
  char** names = nullptr;
  // unset_environment=1: children (none today) must not think the fds are theirs.
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) return Error{fmt::format("LISTEN_FDS: {}", std::strerror(-count)), -count};
  std::vector<PassedSocket> sockets;
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    sockets.push_back(
        PassedSocket{UniqueFd(fd), describe_passed(fd, names != nullptr ? names[i] : nullptr)});
  }
  if (names != nullptr) {
    for (int i = 0; i < count; ++i)
      std::free(names[i]);                 // NOLINT: libsystemd allocates with malloc
    std::free(static_cast<void*>(names));  // NOLINT
  }
  return sockets;
}

bool fd_store_enabled() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return false;
  const std::optional<unsigned> size = fd_store_size();
  return !size || *size > 0;
}

std::optional<unsigned> fd_store_size() {
  const char* value = std::getenv("FDSTORE");
  if (value == nullptr) return std::nullopt;
  const std::string_view text(value);
  unsigned size = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return size;
}

Status store_socket(std::string_view name, int fd) {
  const std::string message = fmt::format("FDSTORE=1\nFDNAME={}", name);
  const int result = sd_pid_notify_with_fds(0, 0, message.c_str(), &fd, 1);
  if (result < 0)
    return failed(fmt::format("cannot store {} in the service manager", name), result);
  return Done{};
}

Status remove_stored(std::string_view name) {
  const std::string message = fmt::format("FDSTOREREMOVE=1\nFDNAME={}", name);
  const int result = sd_notify(0, message.c_str());
  if (result < 0) {
    return failed(fmt::format("cannot remove {} from the service manager's store", name), result);
  }
  return Done{};
}

Status wait_for_manager(std::chrono::microseconds timeout) {
  const int result = sd_notify_barrier(0, static_cast<std::uint64_t>(timeout.count()));
  if (result < 0) return failed("waiting for the service manager (BARRIER=1)", result);
  return Done{};
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
