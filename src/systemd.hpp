// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "fd_store.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

// The thin libsystemd glue: socket activation and the sd_notify protocol.
// Every notify call is a no-op when NOTIFY_SOCKET is unset (sd_notify(3)).
namespace hellod::systemd {

// A descriptor the service manager passed in LISTEN_FDS: a socket unit's
// first, then the file descriptor store's, each with its name.
struct PassedSocket {
  UniqueFd fd;
  fd_store::Passed info;
};

// Every descriptor passed (sd_listen_fds_with_names(3)), described but not
// judged (fd_store::plan_start does that); empty when none was.
Result<std::vector<PassedSocket>> passed_sockets();

// Whether hellod should keep its listening sockets in the service manager's
// file descriptor store: it runs under one (NOTIFY_SOCKET) that did not say
// the store is off. systemd 254+ sets $FDSTORE to the store's size when it
// has one; 252 says nothing and drops what it cannot keep.
bool fd_store_enabled();
// $FDSTORE, when the service manager sets it.
std::optional<unsigned> fd_store_size();
// FDSTORE=1 with FDNAME=name and one descriptor. The manager keeps its own
// copy (or drops it when the store is full or off: the sender cannot tell).
Status store_socket(std::string_view name, int fd);
// FDSTOREREMOVE=1 with FDNAME=name: the manager closes its copies.
Status remove_stored(std::string_view name);
// BARRIER=1 (sd_notify_barrier(3)): returns once the manager has processed
// every message sent before, e.g. closed what was removed from the store.
Status wait_for_manager(std::chrono::microseconds timeout);

void notify_ready(std::string_view status);
// RELOADING=1 with MONOTONIC_USEC=, as systemd 253+ expects from
// Type=notify-reload services and 252 ignores.
void notify_reloading();
void notify_stopping(std::string_view status);
void notify_status(std::string_view status);
// STATUS= (and ERRNO= when errno_value is set) before a failing exit.
void notify_failure(std::string_view status, int errno_value);
// Asks for more time to stop while a drain still makes progress.
void notify_extend_timeout(std::chrono::microseconds more);
void notify_watchdog();

// The watchdog interval when the service manager wants keep-alive pings for
// this process (sd_watchdog_enabled(3)).
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace hellod::systemd
