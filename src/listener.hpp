// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <chrono>
#include <string>

#include "unique_fd.hpp"

namespace hellod {

class Worker;

// A listening socket watched by one worker's loop. hellod accepts on the
// descriptor itself (accept4) instead of through a libuv stream, so a client
// can be answered and closed before libuv ever knows of it (see
// Connection::start): readiness is all the loop provides.
//
// Lifetime: created by the worker; after close() the poll handle's close
// callback deletes it (and closes the socket), never earlier.
class Listener {
 public:
  using OnReadable = void (*)(Listener& listener);

  Listener(Worker& worker, std::string name, bool unix_socket, UniqueFd fd);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() = default;

  // listen(2) (again: only the backlog changes for an inherited socket) and
  // watch for clients; a libuv status.
  [[nodiscard]] int start(uv_loop_t* loop, OnReadable on_readable);
  // TCP_DEFER_ACCEPT (Timeouts::defer_accept), rounded up to whole seconds;
  // nothing for a unix socket.
  void defer_accept(std::chrono::milliseconds wait) const;
  // Stop and start watching, e.g. at capacity: clients wait in the backlog.
  void pause();
  void resume();
  void close();

  // One pending client's descriptor (non-blocking, close-on-exec), or -errno
  // (-EAGAIN once the backlog is empty).
  [[nodiscard]] int accept_one() const;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool unix_socket() const { return unix_socket_; }
  [[nodiscard]] bool closing() const { return closing_; }
  [[nodiscard]] bool paused() const { return paused_; }
  [[nodiscard]] Worker& worker() const { return worker_; }

 private:
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_closed(uv_handle_t* handle);

  uv_poll_t poll_{};
  std::string name_;
  UniqueFd fd_;
  Worker& worker_;
  OnReadable on_readable_ = nullptr;
  bool unix_socket_;
  bool started_ = false;
  bool paused_ = false;
  bool closing_ = false;
};

}  // namespace hellod
