// SPDX-License-Identifier: MIT
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>

#include "unique_fd.hpp"

namespace hellod {

class InputSet;
class Worker;

// A listening socket watched in one worker's InputSet. hellod accepts on
// the descriptor itself (accept4), so a client can be answered and closed
// before libuv ever knows of it (see Connection::start).
//
// Lifetime: created and deleted by the worker, which after close() keeps it
// until the events already reported for it have been passed over.
class Listener {
 public:
  Listener(Worker& worker, std::string name, bool unix_socket, UniqueFd fd);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() = default;

  // listen(2) (again: only the backlog changes for an inherited socket),
  // TCP_NODELAY for the connections accepted from it, and watch for clients
  // in inputs; -errno on failure.
  [[nodiscard]] int start(InputSet& inputs);
  // TCP_DEFER_ACCEPT (Timeouts::defer_accept), rounded up to whole seconds;
  // nothing for a unix socket.
  void defer_accept(std::chrono::milliseconds wait) const;
  // Stop and start watching, e.g. at capacity: clients wait in the backlog.
  void pause();
  void resume();
  // Stops watching for good; the socket closes with the listener.
  void close();

  // One pending client's descriptor (non-blocking, close-on-exec), or -errno
  // (-EAGAIN once the backlog is empty); with its address in *peer if given.
  [[nodiscard]] int accept_one(sockaddr_storage* peer = nullptr) const;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool unix_socket() const { return unix_socket_; }
  [[nodiscard]] bool closing() const { return closing_; }
  [[nodiscard]] bool paused() const { return paused_; }
  [[nodiscard]] Worker& worker() const { return worker_; }

 private:
  void set_no_delay() const;
  void delay_acks() const;

  std::string name_;
  UniqueFd fd_;
  Worker& worker_;
  InputSet* inputs_ = nullptr;  // once started
  bool unix_socket_;
  bool started_ = false;
  bool paused_ = false;
  bool closing_ = false;
};

}  // namespace hellod
