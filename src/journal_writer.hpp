// SPDX-License-Identifier: MIT
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <string_view>

#include "unique_fd.hpp"

namespace hellod {

// Appends one field, "NAME=value", to an entry in journald's native
// protocol: as is, or, when the value holds a newline, as
// NAME\n<its size, 64-bit little-endian><value>\n.
void append_journal_field(std::string& entry, std::string_view field);

// Sends entries to journald's native socket without waiting on it longer
// than the caller allows. libsystemd's sd_journal_send(3) sends on a
// blocking socket and waits for as long as journald takes nothing (behind a
// slow disk, while it rotates, when it hangs): hellod's own lines would then
// hold its reloads and stops, and the access log's thread hellod's exit.
//
// The socket is connected, so poll(2) tells when journald has room again (an
// unconnected datagram socket is always writable to poll). An entry too
// large for one datagram goes in a sealed memfd, as libsystemd sends it.
class JournalWriter {
 public:
  static constexpr const char* kSocketPath = "/run/systemd/journal/socket";

  explicit JournalWriter(std::string socket_path = kSocketPath);

  enum class Outcome : unsigned char {
    sent,
    stalled,  // journald took nothing for `patience`: the entry is not sent
    failed,   // no journald, or it refused the entry: lost
  };

  // Connects on first use, and again once the socket it reached is closed
  // (a journald that was not socket activated restarted). A socket that
  // stays open but unread keeps the entries stalled, as it should.
  Outcome send(std::string_view entry, std::chrono::milliseconds patience);

 private:
  // These return 0 once sent, or the errno of the attempt that ended it.
  int send_message(const msghdr& message, std::chrono::milliseconds patience);
  int send_in_memfd(std::string_view entry, std::chrono::milliseconds patience);
  int connect();
  [[nodiscard]] bool wait_until_writable(std::chrono::steady_clock::time_point deadline) const;

  std::string socket_path_;
  UniqueFd socket_;  // connected to socket_path_, or not yet
};

}  // namespace hellod
