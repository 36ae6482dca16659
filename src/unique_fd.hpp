// SPDX-License-Identifier: MIT
#pragma once

#include <unistd.h>

#include <utility>

namespace hellod {

// Owns one file descriptor and closes it when it goes out of scope, so every
// early return of a start-up or reload path closes what it opened. release()
// hands the descriptor to a new owner (a libuv handle, the kernel's fd store).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    // close(2): the descriptor is released even when close reports an error,
    // so there is nothing to retry.
    if (fd_ >= 0) static_cast<void>(::close(fd_));
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace hellod
