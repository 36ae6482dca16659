// SPDX-License-Identifier: MIT
#pragma once

// The socket calls of the request path, made with syscall(2).
//
// glibc's recv and sendmsg are thread cancellation points: in a process with
// threads, each call switches asynchronous cancellation on and off around
// the system call, about 30 instructions a call, a tenth of what a
// keep-alive request costs hellod beyond llhttp. hellod never cancels a
// thread (workers stop through their loops), so the request path makes the
// same system calls without that wrapper. Same arguments, same result: -1
// and errno on failure.

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace hellod {

inline ssize_t receive(int fd, void* buffer, std::size_t length, int flags) {
  return syscall(SYS_recvfrom, fd, buffer, length, flags, nullptr, nullptr);
}

inline ssize_t send_message(int fd, const msghdr* message, int flags) {
  return syscall(SYS_sendmsg, fd, message, flags);
}

}  // namespace hellod
