// SPDX-License-Identifier: MIT
#include "process_metrics.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

namespace hellod {
namespace {

// Reads a small /proc file into buf; the number of bytes, or nothing.
std::optional<std::size_t> read_small_file(const char* path, std::array<char, 1024>& buf) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const ssize_t n = ::read(fd, buf.data(), buf.size() - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[static_cast<std::size_t>(n)] = '\0';
  return static_cast<std::size_t>(n);
}

double seconds_of(const timeval& time) {
  return static_cast<double>(time.tv_sec) + (static_cast<double>(time.tv_usec) / 1e6);
}

double clock_seconds(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) + (static_cast<double>(now.tv_nsec) / 1e9);
}

// Field 22 of /proc/self/stat (proc(5)): start time in clock ticks after
// boot. The command name (field 2) may hold spaces, so count from its ")".
std::optional<double> start_ticks_after_boot() {
  std::array<char, 1024> buf{};
  if (!read_small_file("/proc/self/stat", buf)) return std::nullopt;
  const char* p = std::strrchr(buf.data(), ')');
  if (p == nullptr) return std::nullopt;
  unsigned long long ticks = 0;
  // After ")": state (field 3) then fields 4..21 skipped, 22 read.
  if (std::sscanf(p + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                  "%*d %llu",
                  &ticks) != 1) {
    return std::nullopt;
  }
  return static_cast<double>(ticks);
}

double start_time_seconds() {
  const auto ticks = start_ticks_after_boot();
  const long per_second = sysconf(_SC_CLK_TCK);
  if (!ticks || per_second <= 0) return 0;
  const double boot = clock_seconds(CLOCK_REALTIME) - clock_seconds(CLOCK_BOOTTIME);
  return boot + (*ticks / static_cast<double>(per_second));
}

std::uint64_t resident_bytes() {
  std::array<char, 1024> buf{};
  unsigned long long pages = 0;
  if (!read_small_file("/proc/self/statm", buf) ||
      std::sscanf(buf.data(), "%*u %llu", &pages) != 1) {
    return 0;
  }
  return pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

std::optional<std::uint64_t> count_directory_entries(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  alignas(dirent64) std::array<char, 32768> buf{};
  std::uint64_t count = 0;
  for (;;) {
    const long n = ::syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      const auto* entry = reinterpret_cast<const dirent64*>(buf.data() + offset);
      const std::string_view name(static_cast<const char*>(entry->d_name));
      if (name != "." && name != "..") ++count;
      offset += entry->d_reclen;
    }
  }
  ::close(fd);
  return count;
}

std::uint64_t open_descriptors() {
  struct stat info {};
  if (::stat("/proc/self/fd", &info) == 0 && info.st_size > 0)
    return static_cast<std::uint64_t>(info.st_size);
  // The descriptor of the listing itself is one of the entries.
  const auto entries = count_directory_entries("/proc/self/fd");
  return entries && *entries > 0 ? *entries - 1 : 0;
}

ProcessMetrics read_process_metrics() {
  ProcessMetrics metrics;
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0)
    metrics.cpu_seconds = seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
  metrics.resident_bytes = resident_bytes();
  metrics.open_fds = open_descriptors();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) metrics.max_fds = limit.rlim_cur;
  metrics.start_time_seconds = start_time_seconds();
  return metrics;
}

}  // namespace hellod
