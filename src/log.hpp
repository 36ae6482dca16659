// SPDX-License-Identifier: MIT
#pragma once

#include "config.hpp"

namespace hellod {

// Where log lines go once the config is known: the journal (with priorities
// and SYSLOG_IDENTIFIER=hellod) when stderr is connected to it or the config
// says so, stderr otherwise.
void configure_logging(const LogConfig& config);  // once, at start

// A reload changes the level only; where logs go is decided once at start.
void apply_log_level(LogLevel level);

// Before any config is read: plain stderr at info.
void init_logging();

// True when stderr is the journal's stream (JOURNAL_STREAM names its
// device:inode), as systemd.exec(5) describes.
bool stderr_is_journal();

// Out of memory: logged as critical, then the process aborts. Nothing that
// was half done when an allocation failed can be trusted, and systemd
// restarts the service (Restart=on-failure).
[[noreturn]] void die_out_of_memory(std::string_view where);

// True once configure_logging chose the journal: access records then go
// there too, with structured fields (access_logger.hpp).
bool logging_to_journal();

}  // namespace hellod
