// SPDX-License-Identifier: MIT
#pragma once

// The standard process metrics (process_cpu_seconds_total and friends, as
// the Prometheus client libraries export them), read from the kernel at
// scrape time.

#include <cstdint>
#include <optional>

namespace hellod {

struct ProcessMetrics {
  double cpu_seconds = 0;  // user + system, all threads (getrusage)
  std::uint64_t resident_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;      // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;  // since the Unix epoch
};

// Reads /proc/self (stat, statm, fd) and getrusage/getrlimit. Open
// descriptors: Linux 6.2 and later report their number as the size of
// /proc/self/fd, one stat() whatever the count; older kernels only list
// them (getdents), which costs about 3 us per descriptor (33 ms with 10,000
// connections, measured). The start
// time is the process' start in /proc/self/stat (clock ticks since boot)
// placed on the wall clock with CLOCK_BOOTTIME, not /proc/stat's btime,
// which ProcSubset=pid hides. Fields that cannot be read stay 0.
ProcessMetrics read_process_metrics();

// The number of entries of a directory (open descriptors in /proc/self/fd),
// read with getdents64 into one fixed buffer: no allocation per descriptor.
std::optional<std::uint64_t> count_directory_entries(const char* path);

// Open descriptors of this process: stat's size of /proc/self/fd where the
// kernel reports it (6.2+), else counted with count_directory_entries.
std::uint64_t open_descriptors();

}  // namespace hellod
