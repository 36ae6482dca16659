// SPDX-License-Identifier: MIT
#pragma once

// The system calls of the request path, made with syscall(2).
//
// glibc's recv, sendmsg and epoll_wait are thread cancellation points: in a
// process with threads, each call switches asynchronous cancellation on and
// off around the system call, about 30 instructions a call. hellod never
// cancels a thread (workers stop through their loops), so the request path
// makes the same system calls without that wrapper. Same arguments, same
// result: -1 and errno on failure.

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace hellod {

inline ssize_t receive(int fd, void* buffer, std::size_t length, int flags) {
  return syscall(SYS_recvfrom, fd, buffer, length, flags, nullptr, nullptr);
}

// send(2) is sendto(2) without an address on x86-64 and arm64 alike.
inline ssize_t send_bytes(int fd, const void* bytes, std::size_t length, int flags) {
  return syscall(SYS_sendto, fd, bytes, length, flags, nullptr, 0);
}

inline ssize_t send_message(int fd, const msghdr* message, int flags) {
  return syscall(SYS_sendmsg, fd, message, flags);
}

inline int wait_for_events(int epoll_fd, epoll_event* events, int capacity, int timeout_ms) {
  return static_cast<int>(syscall(SYS_epoll_wait, epoll_fd, events, capacity, timeout_ms));
}

}  // namespace hellod
