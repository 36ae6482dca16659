// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "connection.hpp"

namespace hellod {

// Keeps the memory of released connections for the next ones: a worker in
// steady state allocates nothing per connection, and its malloc arena does
// not grow and trim (an mprotect(2) every few connections) as they come and
// go. Up to `keep` blocks are kept, so a burst's memory goes back after it.
// One per worker; not thread-safe.
class ConnectionPool {
 public:
  static constexpr std::size_t kDefaultKeep = 1024;

  explicit ConnectionPool(std::size_t keep = kDefaultKeep) : keep_(keep) { free_.reserve(keep); }
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool() {
    for (void* block : free_) ::operator delete(block);
  }

  Connection* make(LoopContext& loop) {
    void* block = nullptr;
    if (free_.empty()) {
      block = ::operator new(sizeof(Connection));
    } else {
      block = free_.back();
      free_.pop_back();
    }
    try {
      return new (block) Connection(loop);
    } catch (...) {
      ::operator delete(block);
      throw;
    }
  }

  void destroy(Connection* connection) {
    connection->~Connection();
    if (free_.size() < keep_) {
      free_.push_back(connection);  // within the reserved capacity: no allocation
    } else {
      ::operator delete(connection);
    }
  }

  [[nodiscard]] std::size_t kept() const { return free_.size(); }

 private:
  std::size_t keep_;
  std::vector<void*> free_;
};

}  // namespace hellod
