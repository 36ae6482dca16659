// SPDX-License-Identifier: MIT
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>

#include "unique_fd.hpp"

namespace hellod {

class Connection;
class Listener;

// A worker's own epoll set: the descriptors whose input hellod reads itself
// (its listening sockets, and connections waiting for a request) and
// libuv's backend descriptor, which is readable while libuv has events of
// its own (writes waiting for room, wakeups from other threads). The
// worker sleeps in one epoll_wait on it and runs libuv's loop only when
// that descriptor is ready or one of libuv's timers is due, so a request
// costs an epoll_wait, a recv and a sendmsg and none of the work libuv's
// loop does each turn (its timer, idle, prepare, check and closing queues,
// its own epoll_wait, its read and allocation callbacks).
//
// Connections are edge-triggered (see kConnectionEvents): a connection's
// read must take all it was told of, or rearm(). Listeners and libuv's
// descriptor are level-triggered. A closed descriptor leaves the set by itself.
class InputSet {
 public:
  // What a reported descriptor belongs to.
  struct Ready {
    Connection* connection = nullptr;
    Listener* listener = nullptr;  // neither: libuv's descriptor
  };

  // An epoll set with libuv's backend descriptor in it; -errno on failure.
  [[nodiscard]] int open(int libuv_fd);
  // Watch fd for input on behalf of its owner; -errno on failure.
  [[nodiscard]] int add(int fd, Connection* connection);
  [[nodiscard]] int add(int fd, Listener* listener);
  // A connection's read may have left input unread (it filled the buffer):
  // have the next wait report it again; -errno on failure.
  [[nodiscard]] int rearm(int fd, Connection* connection);
  void remove(int fd);
  // Waits up to timeout_ms (-1: no limit) for input: the count of events
  // (0 when the time ran out), or -errno (-EINTR when a signal came first).
  [[nodiscard]] int wait(std::span<epoll_event> events, int timeout_ms) const;
  [[nodiscard]] static Ready owner_of(const epoll_event& event);

 private:
  [[nodiscard]] int add_tagged(int fd, void* tagged, std::uint32_t events) const;

  UniqueFd epoll_;
};

}  // namespace hellod
