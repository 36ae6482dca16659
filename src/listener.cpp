// SPDX-License-Identifier: MIT
#include "listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

#include "listeners.hpp"

namespace hellod {

Listener::Listener(Worker& worker, std::string name, bool unix_socket, UniqueFd fd)
    : name_(std::move(name)), fd_(std::move(fd)), worker_(worker), unix_socket_(unix_socket) {}

int Listener::start(uv_loop_t* loop, OnReadable on_readable) {
  assert(!started_);
  on_readable_ = on_readable;
  if (::listen(fd_.get(), kListenBacklog) < 0) return -errno;
  const int status = uv_poll_init_socket(loop, &poll_, fd_.get());
  if (status < 0) return status;
  started_ = true;
  poll_.data = this;
  return uv_poll_start(&poll_, UV_READABLE, on_poll);
}

void Listener::pause() {
  if (paused_ || closing_) return;
  paused_ = true;
  // uv_poll_stop cannot fail on an initialised handle.
  static_cast<void>(uv_poll_stop(&poll_));
}

void Listener::resume() {
  if (!paused_ || closing_) return;
  paused_ = false;
  // Fails only on a closing handle, which closing_ rules out.
  static_cast<void>(uv_poll_start(&poll_, UV_READABLE, on_poll));
}

void Listener::close() {
  assert(!closing_);
  closing_ = true;
  if (!started_) {
    delete this;  // no handle to wait for: the socket closes with us
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), on_closed);
}

void Listener::defer_accept(std::chrono::milliseconds wait) const {
  if (unix_socket_) return;
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  const int value = static_cast<int>(seconds);
  // Only a socket that is not TCP refuses it; hellod then accepts at once.
  if (::setsockopt(fd_.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &value, sizeof value) < 0)
    spdlog::debug("{}: TCP_DEFER_ACCEPT: {}", name_, std::strerror(errno));
}

int Listener::accept_one() const {
  const int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

void Listener::on_poll(uv_poll_t* handle, int status, int /*events*/) {
  auto& listener = *static_cast<Listener*>(handle->data);
  // A poll error (EBADF) cannot happen on a descriptor we own; accept_one()
  // would report anything the socket itself has to say.
  if (status < 0 || listener.closing_) return;
  listener.on_readable_(listener);
}

// libuv is done with the descriptor: it can close now.
void Listener::on_closed(uv_handle_t* handle) {
  delete static_cast<Listener*>(handle->data);
}

}  // namespace hellod
