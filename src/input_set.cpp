// SPDX-License-Identifier: MIT
#include "input_set.hpp"

#include <cassert>
#include <cerrno>
#include <cstddef>

#include "connection.hpp"
#include "listener.hpp"
#include "nocancel.hpp"

namespace hellod {
namespace {

// The owner's kind rides in the low bits of the event's pointer: the
// owner's address plus 1 or 2, still inside the owner (both kinds are
// larger than that and aligned to at least 4). So an event needs no lookup
// and a connection no extra field; a null pointer is libuv's descriptor.
constexpr std::uintptr_t kConnectionTag = 1;
constexpr std::uintptr_t kListenerTag = 2;
constexpr std::uintptr_t kTagMask = 3;

// Connections are edge-triggered, as nginx's are: a level-triggered
// descriptor that a wait reported goes back on epoll's ready list, and the
// next wait polls the socket again only to find it drained (about 2% of a
// keep-alive request's CPU, measured side by side). So a read must take
// what was reported: Connection::read_input rearms a read that filled its
// buffer, and on_input reads the EOF that EPOLLRDHUP announces behind the
// input. Listeners and libuv's descriptor stay level-triggered.
constexpr std::uint32_t kConnectionEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

template <typename Owner>
void* tagged(Owner* owner, std::uintptr_t tag) {
  static_assert(alignof(Owner) > kTagMask, "the tag needs the address's low bits");
  static_assert(sizeof(Owner) > kTagMask, "a tagged pointer stays inside its owner");
  assert(owner != nullptr && (reinterpret_cast<std::uintptr_t>(owner) & kTagMask) == 0);
  return reinterpret_cast<std::byte*>(owner) + tag;
}

}  // namespace

int InputSet::open(int libuv_fd) {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return -errno;
  return add_tagged(libuv_fd, nullptr, EPOLLIN);
}

int InputSet::add(int fd, Connection* connection) {
  return add_tagged(fd, tagged(connection, kConnectionTag), kConnectionEvents);
}

int InputSet::add(int fd, Listener* listener) {
  return add_tagged(fd, tagged(listener, kListenerTag), EPOLLIN);
}

int InputSet::rearm(int fd, Connection* connection) {
  epoll_event event{};
  event.events = kConnectionEvents;
  event.data.ptr = tagged(connection, kConnectionTag);
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : -errno;
}

int InputSet::add_tagged(int fd, void* tagged, std::uint32_t events) const {
  epoll_event event{};
  event.events = events;
  event.data.ptr = tagged;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -errno;
}

// EPOLL_CTL_DEL fails only for a descriptor that is not in the set (or not
// open), which leaves nothing to undo.
void InputSet::remove(int fd) {
  static_cast<void>(::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr));
}

int InputSet::wait(std::span<epoll_event> events, int timeout_ms) const {
  const int count =
      wait_for_events(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
  return count >= 0 ? count : -errno;
}

InputSet::Ready InputSet::owner_of(const epoll_event& event) {
  auto* const tagged = static_cast<std::byte*>(event.data.ptr);
  const std::uintptr_t tag = reinterpret_cast<std::uintptr_t>(tagged) & kTagMask;
  switch (tag) {
    case kConnectionTag:
      return Ready{reinterpret_cast<Connection*>(tagged - tag), nullptr};
    case kListenerTag:
      return Ready{nullptr, reinterpret_cast<Listener*>(tagged - tag)};
    default:
      assert(tagged == nullptr);
      return Ready{};
  }
}

}  // namespace hellod
