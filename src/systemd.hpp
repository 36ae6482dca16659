#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "listeners.hpp"
#include "result.hpp"

// The thin libsystemd glue: socket activation and the sd_notify protocol.
// Every notify call is a no-op when NOTIFY_SOCKET is unset (sd_notify(3)).
namespace hellod::systemd {

// The listening sockets the service manager passed (sd_listen_fds(3)); empty
// when hellod was not socket-activated. An fd that is not a listening stream
// socket is an error.
Result<std::vector<ListenSocket>> inherited_sockets();

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
