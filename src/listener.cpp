// SPDX-License-Identifier: MIT
#include "listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

#include "input_set.hpp"
#include "listeners.hpp"

namespace hellod {

Listener::Listener(Worker& worker, std::string name, bool unix_socket, UniqueFd fd)
    : name_(std::move(name)), fd_(std::move(fd)), worker_(worker), unix_socket_(unix_socket) {}

int Listener::start(InputSet& inputs) {
  assert(!started_);
  if (::listen(fd_.get(), kListenBacklog) < 0) return -errno;
  // accept_one() must not block once the backlog is empty, and an inherited
  // socket (socket activation, the fd store) may come blocking. The flag is
  // the open socket's, so the supervisor's and systemd's copies share it, as
  // they did when libuv polled the socket and set it.
  int non_blocking = 1;
  if (::ioctl(fd_.get(), FIONBIO, &non_blocking) < 0) return -errno;
  set_no_delay();
  delay_acks();
  const int status = inputs.add(fd_.get(), this);
  if (status < 0) return status;
  inputs_ = &inputs;
  started_ = true;
  return 0;
}

void Listener::pause() {
  if (paused_ || closing_) return;
  paused_ = true;
  inputs_->remove(fd_.get());
}

// A failure leaves the listener paused: a later resume() (a connection
// ending, the accept retry) tries again.
void Listener::resume() {
  if (!paused_ || closing_) return;
  if (const int status = inputs_->add(fd_.get(), this); status < 0) {
    spdlog::warn("{}: cannot watch for clients again: {}", name_, std::strerror(-status));
    return;
  }
  paused_ = false;
}

void Listener::close() {
  assert(!closing_);
  closing_ = true;
  if (started_ && !paused_) inputs_->remove(fd_.get());
}

void Listener::defer_accept(std::chrono::milliseconds wait) const {
  if (unix_socket_) return;
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  const int value = static_cast<int>(seconds);
  // Only a socket that is not TCP refuses it; hellod then accepts at once.
  if (::setsockopt(fd_.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &value, sizeof value) < 0)
    spdlog::debug("{}: TCP_DEFER_ACCEPT: {}", name_, std::strerror(errno));
}

// A kept-alive connection's response may follow one the client has not
// acknowledged yet, which Nagle's algorithm would hold back. Linux copies
// TCP_NODELAY from a listener to each socket accepted from it, so setting it
// here spares every connection a setsockopt(2) of its own (nginx makes one
// per kept-alive connection).
void Listener::set_no_delay() const {
  if (unix_socket_) return;
  const int on = 1;
  // Only a socket that is not TCP refuses it, and Nagle does not apply there.
  if (::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
    spdlog::debug("{}: TCP_NODELAY: {}", name_, std::strerror(errno));
}

// A new connection starts in the kernel's quick-ACK mode, where the
// client's request is acknowledged by a segment of its own before the
// response can carry the ACK. Linux copies this setting, like TCP_NODELAY,
// from the listener to each accepted socket: a request answered at once is
// then acknowledged by its response, one segment fewer per connection. A
// request that arrives in parts gets its ACK at once all the same
// (Connection::acknowledge_partial_input).
void Listener::delay_acks() const {
  if (unix_socket_) return;
  const int off = 0;
  if (::setsockopt(fd_.get(), IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off) < 0)
    spdlog::debug("{}: TCP_QUICKACK: {}", name_, std::strerror(errno));
}

int Listener::accept_one(sockaddr_storage* peer) const {
  socklen_t length = sizeof(sockaddr_storage);
  const int fd = ::accept4(fd_.get(), reinterpret_cast<sockaddr*>(peer),
                           peer != nullptr ? &length : nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

}  // namespace hellod
